// Exact (erf) GELU, optionally after adding a bias, in place: the pass gemm_gelu.h runs after a
// GEMM when GELU is not placed in cuBLASLt's epilogue (whose GELU is the tanh form).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// x [rows, cols] of `dtype`; bias [cols] or null. x = round(gelu(round(x + bias))).
void gelu(DType dtype, void* x, int64_t rows, int64_t cols, const void* bias, cudaStream_t stream);

}  // namespace glmasr::cuda
