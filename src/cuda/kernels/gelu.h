// Exact (erf) GELU, optionally after adding a bias, in place. cuBLASLt's GELU epilogue is the
// tanh approximation, which the model does not use, so GEMMs feed this kernel instead.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// x [rows, cols] of `dtype`; bias [cols] or null. x = round(gelu(round(x + bias))).
void gelu(DType dtype, void* x, int64_t rows, int64_t cols, const void* bias, cudaStream_t stream);

}  // namespace glmasr::cuda
