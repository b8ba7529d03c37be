// Bandwidth-bound projections of a few rows (the decoding step: one row per sequence, at most
// kGemvMaxBatch): y = x W^T with float32 accumulation, streaming W once with 16-byte loads.
// Fusions that save whole launches per layer:
//   - RMSNorm of x before the product (norm_weight): the block computes the row's scale itself;
//   - SwiGLU after the fused gate|up product (swiglu_width): one block owns gate row f and up
//     row F + f, so the activation leaves the kernel instead of 2F raw outputs;
//   - the residual add after the product (residual, may alias y);
//   - RoPE + KV-cache write after the fused QKV product of a decoding step (rope,
//     qkv_rope_epilogue.h): the row pairs (d, d + head_dim/2) of q/k heads are owned by a block
//     like the gate/up pairs of SwiGLU.
// Kernels are launched as programmatic dependent launches: each block loads its first weight
// tiles before waiting for the previous kernel, hiding the ramp between the step's kernels.
// Every intermediate is rounded to the element type where the bf16 reference rounds.
// FP8 weights (w_scale set): w holds OCP E4M3 codes, one byte per weight, so a 16-byte load
// carries 16 weights; they are widened in registers (cvt e4m3x2 -> f16x2 -> f32, exact) and
// each row's float32 sum is multiplied by its scale before the epilogue, which is unchanged.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "cuda/kernels/qkv_rope_epilogue.h"

namespace glmasr::cuda {

constexpr int kGemvMaxBatch = 8;

struct GemvParams {
  DType dtype = DType::kBF16;
  const void* w = nullptr;  // [out, in] (with swiglu_width: [2 * swiglu_width, in])
  // Set: w is E4M3 codes [out, in] and row n's weights are code * w_scale[n] (float32 [out];
  // model/fp8_quantize.h). in must then be a multiple of 16.
  const float* w_scale = nullptr;
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
  // With rope.head_dim > 0, out must be (heads + 2 kv_heads) * head_dim, the outputs go where
  // rope says and y, residual and swiglu_width are unused.
  QkvRopeEpilogue rope;
  // Percent of each SM's shared memory (the rest is L1) the launch asks for; -1: the driver's
  // choice. Only the scheduling changes (see DependentLaunch).
  int shared_carveout = -1;
  // Batch 1 only: 0 takes the kernel compiled for 3 blocks of 256 threads per SM (72-80
  // registers); 4 the one for 4 blocks (64 registers, so a few bytes spill, ~300 with the RoPE
  // epilogue; more loads in flight per SM: on the H100 faster on the seed shape's wide matrices,
  // slower on the real decoder's). Which is faster is measured on the device it runs on
  // (DecoderRunner::choose_single_step).
  int blocks_per_sm = 0;
};

// Whether gemv() takes this shape (else use Gemm): batch 1..kGemvMaxBatch and `in` a multiple
// of the weights per 16-byte load (8 in the element type, 16 for fp8 weights).
bool gemv_supported(int batch, int64_t in, bool fp8_weights = false);
void gemv(const GemvParams& p, cudaStream_t stream);

}  // namespace glmasr::cuda
