// The rows that one batch entry of flash_attention reads and writes: entry b of the strided
// views, or span b of a packed launch (FlashAttentionParams::spans). Shared by the mma.sync and
// generic kernels, so that both read a packed launch the same way.
#pragma once

#include <cstdint>

#include "cuda/kernels/attention/attention.h"

namespace glmasr::cuda::attention_internal {

struct FlashEntry {
  int q_len, kv_len;
  int64_t q_offset, k_offset, v_offset, out_offset;  // elements from the views' pointers
};

__device__ inline FlashEntry flash_entry(const FlashAttentionParams& p, int b) {
  if (p.spans == nullptr)
    return {p.q_len,
            p.kv_len,
            b * p.q.batch_stride,
            b * p.k.batch_stride,
            b * p.v.batch_stride,
            b * p.out.batch_stride};
  const FlashAttentionSpan span = p.spans[b];
  // Clamped to the launch's lengths, which the host checked against the views.
  return {min(span.q_len, p.q_len),         min(span.kv_len, p.kv_len),
          span.first_row * p.q.row_stride,  span.kv_batch * p.k.batch_stride,
          span.kv_batch * p.v.batch_stride, span.first_row * p.out.row_stride};
}

}  // namespace glmasr::cuda::attention_internal
