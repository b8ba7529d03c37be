// Projections of a few rows on tensor cores: the decoding step of 2..64 sequences, where the
// matrix-vector kernel (gemv.h) multiplies too slowly and cuBLASLt's GEMMs pay ~10 us per call
// whatever the size (docs/performance.md, session 7). y = x W^T with float32 accumulation, W
// [out, in] streamed once from memory: the weights are mma.sync's A operand (16 rows per warp)
// and the batch its 8-wide B operand, so a batch is padded to 8, 16, 32 or 64 rows, not 64.
// Short matrices split `in` over several blocks to fill the GPU; the last block of a column
// tile sums the partial sums in a fixed order (the result does not depend on which block
// finishes last) and applies the epilogue:
//   - plain:    y = round(x W^T)
//   - residual: y = round(round(x W^T) + y)  (two roundings, as the bf16 reference)
//   - SwiGLU:   W is the fused [gate; up] of 2 * swiglu_width rows and y [batch, swiglu_width]
//               = round(round(silu(round(g))) * round(u)), as the matrix-vector kernel.
//   - RoPE:     W is the fused q|k|v of a decoding step; q is rotated into rope.q_out, k rotated
//               and v written into the cache (qkv_rope_epilogue.h), as rope_qkv would after a
//               plain product: the step has one kernel less per layer.
// FP8 weights (w_scale set): W holds E4M3 codes, widened to the element type in registers
// (exactly), and row n's sum is multiplied by w_scale[n] before the epilogue.
// RMSNorm prologue (norm_weight, batches up to 8): each block takes the rows' scales itself and
// normalizes each stage's batch tile in shared memory, so no RMSNorm kernel runs before it.
// Launched as a programmatic dependent launch: the first weight tiles load before the wait.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "cuda/kernels/qkv_rope_epilogue.h"

namespace glmasr::cuda {

constexpr int kSkinnyGemmMaxBatch = 64;
constexpr int kSkinnyGemmMaxSplit = 16;  // blocks per column tile, at most
// Batches up to this may take the RMSNorm of x into the kernel (norm_weight).
constexpr int kSkinnyGemmMaxNormBatch = 8;

struct SkinnyGemmParams {
  DType dtype = DType::kBF16;
  const void* w = nullptr;         // [out, in]
  const float* w_scale = nullptr;  // set: w is E4M3 codes and row n's weights are code * scale
  int64_t out = 0, in = 0;         // in: a multiple of kSkinnyGemmInputStep
  const void* x = nullptr;         // [batch, ldx]
  int batch = 1;                   // 1..kSkinnyGemmMaxBatch
  int64_t ldx = 0;                 // 0: in
  // Set (batch <= kSkinnyGemmMaxNormBatch): x := round(w_n * round(x * rsqrt(mean x^2 + eps)))
  // first, as rms_norm (norm_weight [in]).
  const void* norm_weight = nullptr;
  float eps = 1e-5f;
  int64_t swiglu_width = 0;  // > 0: out == 2 * swiglu_width, SwiGLU epilogue
  bool residual = false;     // y += x W^T (y is the residual stream)
  // rope.head_dim > 0: the RoPE epilogue (out == rope.rows(), no SwiGLU or residual, head_dim
  // as skinny_gemm_rope_supported takes); y is then unused.
  QkvRopeEpilogue rope;
  void* y = nullptr;  // [batch, ldy]
  int64_t ldy = 0;    // 0: the output width
  // Blocks that share one column tile's inputs (at most kSkinnyGemmMaxSplit); 0:
  // skinny_gemm_split's choice. A given split gives the same bits on every run; tests and
  // benchmarks force it.
  int split = 0;
  // Partial sums and arrival counters (skinny_gemm_workspace_bytes), zeroed once when
  // allocated: every launch leaves its counters at zero. One launch at a time may use it.
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Inputs per pipeline stage: `in` must be a multiple of it.
constexpr int64_t kSkinnyGemmInputStep = 128;

bool skinny_gemm_supported(int batch, int64_t in);
// Whether the RoPE epilogue takes heads of this size (a block owns 32 row pairs of one head).
bool skinny_gemm_rope_supported(int head_dim);
// The rows the instance for `batch` multiplies (the batch padded to 8, 16, 32 or 64): batches of
// one class cost about the same.
int skinny_gemm_batch_rows(int batch);
// The split skinny_gemm uses for split == 0 on the current device: the fewest blocks per column
// tile (a divisor of the input steps) that fill the device's resident blocks.
int skinny_gemm_split(const SkinnyGemmParams& p);
// Workspace that every launch of this shape (dtype, w_scale set or not, out, in, swiglu_width,
// rope) with a batch up to max_batch needs on the current device: with the automatic split, or
// with at most max_split blocks per tile when given.
size_t skinny_gemm_workspace_bytes(const SkinnyGemmParams& shape, int max_batch, int max_split = 0);
void skinny_gemm(const SkinnyGemmParams& p, cudaStream_t stream);

}  // namespace glmasr::cuda
