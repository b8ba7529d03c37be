#include "cuda/engine/kv_cache.h"

#include "core/error.h"
#include "cuda/check.h"

namespace glmasr::cuda {

KvCache::KvCache(int layers, KvLayout layout, size_t element_bytes, cudaStream_t stream)
    : layers_(layers), layout_(layout), element_bytes_(element_bytes) {
  GLMASR_CHECK(layers > 0 && layout.slots > 0 && layout.kv_heads > 0 && layout.positions > 0 &&
                   layout.head_dim > 0,
               "KV cache: expected positive layers, slots, kv heads, positions and head dim, got ",
               layers, ", ", layout.slots, ", ", layout.kv_heads, ", ", layout.positions, ", ",
               layout.head_dim);
  const size_t bytes = size_t(layers) * layout.layer_elements() * element_bytes;
  k_ = DeviceBuffer(bytes);
  v_ = DeviceBuffer(bytes);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(k_.get(), 0, k_.bytes(), stream));
  GLMASR_CUDA_CHECK(cudaMemsetAsync(v_.get(), 0, v_.bytes(), stream));
}

size_t KvCache::bytes_per_position() const {
  return 2 * size_t(layers_) * layout_.kv_heads * layout_.head_dim * element_bytes_;
}

}  // namespace glmasr::cuda
