// The one description of where a key or value row sits in the KV cache. Every kernel that reads
// or writes the cache (the QKV matrix-vector epilogue, the RoPE kernel, decode attention, the
// prefill's flash attention) and every host call that sizes or addresses it goes through this,
// so the layout can change in one place.
//
// Per layer, K and V are each [slots, kv_heads, positions, head_dim] elements: a sequence owns
// one slot for its lifetime, and a kv head's rows are contiguous so attention streams them.
#pragma once

#include <cstdint>

#include "cuda/kernels/host_device.h"

namespace glmasr::cuda {

struct KvLayout {
  int kv_heads = 0;
  int positions = 0;  // capacity of one slot
  int head_dim = 0;
  int slots = 0;  // only for sizes: offsets do not depend on it

  // Elements from one kv head's rows to the next's, and from one slot to the next.
  GLMASR_HOST_DEVICE int64_t head_stride() const { return int64_t{positions} * head_dim; }
  GLMASR_HOST_DEVICE int64_t slot_stride() const { return kv_heads * head_stride(); }
  // Element offset of (slot, kv_head, position) within one layer's K (or V).
  GLMASR_HOST_DEVICE int64_t offset(int slot, int kv_head, int position) const {
    return (int64_t{slot} * kv_heads + kv_head) * head_stride() + int64_t{position} * head_dim;
  }
  // Elements of one layer's K (or V), and where layer `layer` starts in a buffer of all layers.
  GLMASR_HOST_DEVICE int64_t layer_elements() const { return int64_t{slots} * slot_stride(); }
  GLMASR_HOST_DEVICE int64_t layer_offset(int layer) const {
    return int64_t{layer} * layer_elements();
  }
};

}  // namespace glmasr::cuda
