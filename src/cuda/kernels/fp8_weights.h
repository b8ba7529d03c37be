// Device-side handling of fp8 weights (model/fp8_quantize.h has the format and the host
// quantizer the engine uploads): dequantizing a matrix for the GEMM path, and random fp8
// weights for the benchmarks.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// out[r, c] = round_to_dtype(e4m3(codes[r, c]) * scales[r]) for codes [rows, cols]: the weights
// cuBLASLt multiplies where the matrix-vector kernel does not take the batch (prefill, larger
// steps). One float product and one rounding per weight.
void dequantize_fp8_rows(DType dtype, const void* codes, const float* scales, int64_t rows,
                         int64_t cols, void* out, cudaStream_t stream);

// Random fp8 weights uniform in +-bound: codes = e4m3(448 u) with u uniform in [-1, 1) from a
// hash of (seed, i), and every row's scale bound / 448. Deterministic in `seed`.
void random_fill_fp8(void* codes, float* scales, int64_t rows, int64_t cols, float bound,
                     uint64_t seed, cudaStream_t stream);

}  // namespace glmasr::cuda
