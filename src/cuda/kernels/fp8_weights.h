// Device-side handling of fp8 weights (model/fp8_quantize.h has the format and the host
// quantizer): quantizing a checkpoint's matrix where it was uploaded, dequantizing it for the
// GEMM path, and random fp8 weights for the benchmarks.
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

// codes [rows, cols] and scales [rows] of w [rows, cols] (bf16 or fp16, on the device), the
// same bits as the host's quantize_fp8_rows (model/fp8_quantize.h) gives for those values: the
// engine quantizes the checkpoint where it already is instead of on the host's cores. A
// non-finite weight sets *first_nonfinite (device, UINT64_MAX before) to at most its flat index.
void quantize_fp8_rows_on_device(DType source_dtype, const void* w, int64_t rows, int64_t cols,
                                 void* codes, float* scales, unsigned long long* first_nonfinite,
                                 cudaStream_t stream);

// Random fp8 weights uniform in +-bound: codes = e4m3(448 u) with u uniform in [-1, 1) from a
// hash of (seed, i), and every row's scale bound / 448. Deterministic in `seed`.
void random_fill_fp8(void* codes, float* scales, int64_t rows, int64_t cols, float bound,
                     uint64_t seed, cudaStream_t stream);

}  // namespace glmasr::cuda
