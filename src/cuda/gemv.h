// Bandwidth-bound projections of a few rows (the decoding step: one row per sequence, at most
// kGemvMaxBatch): y = x W^T with float32 accumulation, streaming W once with 16-byte loads.
// Fusions that save whole launches per layer:
//   - RMSNorm of x before the product (norm_weight): the block computes the row's scale itself;
//   - SwiGLU after the fused gate|up product (swiglu_width): one block owns gate row f and up
//     row F + f, so the activation leaves the kernel instead of 2F raw outputs;
//   - the residual add after the product (residual, may alias y).
// Every intermediate is rounded to the element type where the bf16 reference rounds.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

constexpr int kGemvMaxBatch = 8;

struct GemvParams {
  DType dtype = DType::kBF16;
  const void* w = nullptr;  // [out, in] (with swiglu_width: [2 * swiglu_width, in])
  int64_t out = 0, in = 0;
  const void* x = nullptr;  // [batch, ldx]
  int batch = 1;
  int64_t ldx = 0;                    // 0: in
  const void* norm_weight = nullptr;  // [in]: x := round(w_n * round(x * rsqrt(mean x^2 + eps)))
  float eps = 1e-5f;
  int64_t swiglu_width = 0;        // > 0: y [batch, swiglu_width] = round(round(silu(g)) * u)
  const void* residual = nullptr;  // [batch, ldy]: y = round(round(x W^T) + residual)
  void* y = nullptr;               // [batch, ldy]
  int64_t ldy = 0;                 // 0: the output width
};

// Whether gemv() takes this shape (else use Gemm).
bool gemv_supported(int batch, int64_t in);
void gemv(const GemvParams& p, cudaStream_t stream);

}  // namespace glmasr::cuda
