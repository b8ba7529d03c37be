// The decoder's KV cache on the GPU: K and V of every layer for `slots` sequences, laid out as
// KvLayout says (one allocation each for K and V, layer after layer). Owns the memory; which
// sequence holds which slot is the engine loop's business (runtime/kv_slot_pool.h).
#pragma once

#include <cstddef>

#include "cuda/device_buffer.h"
#include "cuda/kernels/kv_layout.h"

namespace glmasr::cuda {

class KvCache {
 public:
  KvCache() = default;
  // Zeroed, so never-written positions stay finite.
  KvCache(int layers, KvLayout layout, size_t element_bytes, cudaStream_t stream);

  const KvLayout& layout() const { return layout_; }
  void* k(int layer) const { return layer_start(k_, layer); }
  void* v(int layer) const { return layer_start(v_, layer); }
  size_t bytes() const { return k_.bytes() + v_.bytes(); }
  // Bytes one position of one sequence takes over all layers, K and V.
  size_t bytes_per_position() const;

 private:
  void* layer_start(const DeviceBuffer& buffer, int layer) const {
    return buffer.as<std::byte>() + layout_.layer_offset(layer) * element_bytes_;
  }

  int layers_ = 0;
  KvLayout layout_;
  size_t element_bytes_ = 0;
  DeviceBuffer k_, v_;
};

}  // namespace glmasr::cuda
