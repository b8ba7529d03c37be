#include "model/fp8_quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/parallel.h"

namespace glmasr {
namespace {

constexpr uint8_t kE4m3MaxCode = 0x7e;        // 448 = 2^8 * 1.75
constexpr float kE4m3MinNormal = 0.015625f;   // 2^-6
constexpr float kE4m3SubnormalStep = 512.0f;  // 1 / 2^-9

uint32_t bits_of(float value) {
  uint32_t word;
  std::memcpy(&word, &value, sizeof word);
  return word;
}

float float_of(uint32_t word) {
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

// One row: its scale and codes.
void quantize_row(const float* w, int64_t cols, int64_t row, uint8_t* codes, float* scale) {
  float amax = 0.0f;
  for (int64_t c = 0; c < cols; ++c) {
    GLMASR_CHECK(std::isfinite(w[c]), "fp8 quantization: expected finite weights, row ", row,
                 " holds ", w[c], " at column ", c);
    amax = std::max(amax, std::fabs(w[c]));
  }
  *scale = amax > 0.0f ? amax / kE4m3Max : 1.0f;
  for (int64_t c = 0; c < cols; ++c) codes[c] = float_to_e4m3(w[c] / *scale);
}

}  // namespace

uint8_t float_to_e4m3(float value) {
  const uint32_t word = bits_of(value);
  const uint8_t sign = static_cast<uint8_t>((word >> 24) & 0x80u);
  const uint32_t magnitude_bits = word & 0x7fffffffu;
  if (magnitude_bits > 0x7f800000u) return 0x7f;  // NaN
  const float magnitude = float_of(magnitude_bits);
  if (magnitude >= kE4m3Max) return sign | kE4m3MaxCode;
  if (magnitude < kE4m3MinNormal) {
    // Subnormals are multiples of 2^-9: t is exact, and so is its fractional part.
    const float t = magnitude * kE4m3SubnormalStep;
    auto code = static_cast<uint32_t>(t);
    const float fraction = t - static_cast<float>(code);
    if (fraction > 0.5f || (fraction == 0.5f && (code & 1u))) ++code;
    return static_cast<uint8_t>(sign | code);  // 8 is the smallest normal, 0x08
  }
  // Normal: keep 3 of float's 23 mantissa bits, rounding to nearest even; a carry moves into
  // the exponent, which is what the encoding wants.
  uint32_t rounded = magnitude_bits + 0x7ffffu + ((magnitude_bits >> 20) & 1u);
  rounded &= ~0xfffffu;
  const int exponent = static_cast<int>(rounded >> 23) - 127;  // -6..8
  const uint32_t code = (static_cast<uint32_t>(exponent + 7) << 3) | ((rounded >> 20) & 7u);
  return static_cast<uint8_t>(sign | std::min<uint32_t>(code, kE4m3MaxCode));
}

float e4m3_to_float(uint8_t code) {
  const int exponent = (code >> 3) & 0xf, mantissa = code & 7;
  float magnitude;
  if (exponent == 0xf && mantissa == 7)
    magnitude = NAN;
  else if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -9);
  else
    magnitude = std::ldexp(1.0f + static_cast<float>(mantissa) / 8.0f, exponent - 7);
  return (code & 0x80) ? -magnitude : magnitude;
}

void quantize_fp8_rows(const float* w, int64_t rows, int64_t cols, uint8_t* codes, float* scales) {
  parallel_for(rows, 4 * cols, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      quantize_row(w + r * cols, cols, r, codes + r * cols, scales + r);
  });
}

void quantize_fp8_rows(const TensorView& w, uint8_t* codes, float* scales, const char* what) {
  GLMASR_CHECK(w.shape.size() == 2, what, ": fp8 quantization expects a matrix, got shape ",
               shape_str(w.shape));
  const int64_t rows = w.dim(0), cols = w.dim(1);
  GLMASR_CHECK(w.nbytes == static_cast<size_t>(rows * cols) * dtype_size(w.dtype), what,
               ": byte size does not match shape ", shape_str(w.shape));
  try {
    parallel_for(rows, 6 * cols, [&](int64_t begin, int64_t end) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = begin; r < end; ++r) {
        for (int64_t c = 0; c < cols; ++c)
          row[c] = element_to_float(w, r * cols + c, "fp8 quantization");
        quantize_row(row.data(), cols, r, codes + r * cols, scales + r);
      }
    });
  } catch (const Error& e) {
    fail(what, ": ", e.what());
  }
}

void fp8_round_trip_rows(float* w, int64_t rows, int64_t cols) {
  parallel_for(rows, 6 * cols, [&](int64_t begin, int64_t end) {
    std::vector<uint8_t> codes(static_cast<size_t>(cols));
    for (int64_t r = begin; r < end; ++r) {
      float scale;
      float* row = w + r * cols;
      quantize_row(row, cols, r, codes.data(), &scale);
      for (int64_t c = 0; c < cols; ++c) row[c] = e4m3_to_float(codes[c]) * scale;
    }
  });
}

}  // namespace glmasr
