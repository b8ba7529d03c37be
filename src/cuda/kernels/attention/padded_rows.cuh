// Rows of a head's q, k or v copied into shared memory for the mma.sync kernels (the prefill's
// flash attention and the staged flash-decoding), padded so that ldmatrix's eight rows at one
// column fall on all 32 banks instead of the same few. Only .cu files include this.
#pragma once

#include <cstdint>

#include "cuda/kernels/tensor_core.cuh"

namespace glmasr::cuda::attention_internal {

// Elements per padded shared-memory row: 16 bytes more than the head's.
constexpr int padded_row_elems(int head_dim) {
  return head_dim + 8;
}

// Copies rows [first, first + kRows) of one head (rows row_stride elements apart) into `tile`,
// padded_row_elems(kHeadDim) apart, 16 bytes per cp.async over the block's kThreads threads;
// rows at or past `limit` become zeros. The caller commits and waits for the copies.
template <int kHeadDim, int kRows, int kThreads, typename T>
__device__ __forceinline__ void load_padded_rows(T* tile, const T* rows, int64_t row_stride,
                                                 int first, int limit) {
  constexpr int kChunksPerRow = kHeadDim / 8;
  constexpr int kStride = padded_row_elems(kHeadDim);
#pragma unroll
  for (int c = threadIdx.x; c < kRows * kChunksPerRow; c += kThreads) {
    const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const bool valid = first + r < limit;
    // An invalid row still needs a mapped address: point it at the head's first row.
    const T* src = rows + (valid ? (first + r) * row_stride : 0) + col;
    cp_async_16(tile + r * kStride + col, src, valid);
  }
}

}  // namespace glmasr::cuda::attention_internal
