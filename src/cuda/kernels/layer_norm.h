// LayerNorm with affine weight and bias (nn.LayerNorm) for rows of any width: statistics and
// the affine map in float32, one rounding to the element type at the end, as PyTorch does.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// x, y [rows, dim] (may alias), weight and bias [dim], all of `dtype` (BF16 or F16).
void layer_norm(DType dtype, const void* x, int64_t rows, int dim, const void* weight,
                const void* bias, float eps, void* y, cudaStream_t stream);

}  // namespace glmasr::cuda
