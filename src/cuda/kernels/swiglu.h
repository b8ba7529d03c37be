// SwiGLU of the fused gate|up projection: out = round(round(silu(gate)) * up), as the bf16
// reference rounds after silu and after the product.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// gate_up [rows, 2*width] (gate in columns 0..width-1, up in width..2*width-1), out [rows, width].
void swiglu(DType dtype, const void* gate_up, int64_t rows, int64_t width, void* out,
            cudaStream_t stream);

}  // namespace glmasr::cuda
