// FP8 weights (--weights fp8): the OCP E4M3 format (E4M3FN: 4 exponent bits with bias 7,
// 3 mantissa bits, no infinities, 0x7f/0xff the only NaNs, largest finite 448) and the one
// quantization of a weight matrix that both engines use, so the CPU reference computes with
// exactly the weights the GPU kernels dequantize.
// Granularity: one float32 scale per output channel (weight row), scale = amax(row) / 448
// (1 for an all-zero row), code = e4m3(w / scale) rounded to nearest even and saturated to
// +-448. Per-row scales commute with stacking rows, so fused q|k|v or gate|up matrices quantize
// exactly as their parts do.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace glmasr {

inline constexpr float kE4m3Max = 448.0f;

// Round to nearest even; magnitudes at or above 448 (infinity included) saturate to +-448;
// NaN gives 0x7f. The sign of zero is kept.
uint8_t float_to_e4m3(float value);
float e4m3_to_float(uint8_t code);

// w [rows, cols] row-major -> codes [rows, cols] and scales [rows]. Throws glmasr::Error for a
// row holding a non-finite weight. Rows are spread over the cores (core/parallel.h).
void quantize_fp8_rows(const float* w, int64_t rows, int64_t cols, uint8_t* codes, float* scales);
// The same for a [rows, cols] checkpoint tensor of any float dtype (read as float32 exactly as
// to_float() reads it); `what` names it in errors.
void quantize_fp8_rows(const TensorView& w, uint8_t* codes, float* scales, const char* what);

// w := e4m3_to_float(code) * scale for the quantization above, in place: the float32 weights an
// fp8 engine computes with.
void fp8_round_trip_rows(float* w, int64_t rows, int64_t cols);

}  // namespace glmasr
