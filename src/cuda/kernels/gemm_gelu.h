// A projection followed by GELU (the encoder's fc1, its conv stem, the projector's first GEMM),
// in one of two placements:
//   kGemmEpilogue: cuBLASLt's GELU epilogue, on the fp32 accumulator before the one rounding to
//     the element type. Its GELU is the tanh form, at most 4.7e-4 from the exact form
//     (measured, docs/performance.md, session 10): less than the half-ulp rounding of bf16
//     (2e-3 relative) that the exact pass applies to the pre-activation. It saves a read and a
//     write of the activations.
//   kExactPass: the product rounded to the element type, then a pass of the exact (erf) GELU
//     that the model and transformers use.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/kernels/gemm.h"

namespace glmasr::cuda {

enum class GeluPlacement { kGemmEpilogue, kExactPass };

// y [rows, out] = gelu(x [rows, in] · w [out, in]ᵀ + bias [out]).
void gemm_gelu(Gemm& gemm, GeluPlacement placement, const void* x, int64_t rows, int64_t in,
               const void* w, int64_t out, const void* bias, void* y, cudaStream_t stream);

}  // namespace glmasr::cuda
