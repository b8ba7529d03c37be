// RMSNorm (Llama) for rows of any width, rounded as transformers does in bf16/fp16: normalise in
// float32, round to the element type, then multiply by the weight and round again.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// x, y [rows, dim] (may alias), weight [dim], all of `dtype` (BF16 or F16).
void rms_norm(DType dtype, const void* x, int64_t rows, int dim, const void* weight, float eps,
              void* y, cudaStream_t stream);

}  // namespace glmasr::cuda
