// E4M3 rounding bit for bit on hand-picked values, and the per-row quantization that both
// engines share (--weights fp8).
#include "model/fp8_quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "engine/engine_options.h"

namespace glmasr {
namespace {

struct Case {
  float value;
  uint8_t code;
};

TEST(Fp8E4m3, RoundsHandPickedValuesBitExact) {
  const float sub = std::ldexp(1.0f, -9);  // the smallest subnormal
  const Case cases[] = {
      {0.0f, 0x00},
      {-0.0f, 0x80},
      {1.0f, 0x38},
      {-1.5f, 0xbc},
      {2.0f, 0x40},
      {0.3f, 0x2a},     // 0.3 lies between 0.28125 (0x29) and 0.3125 (0x2a), nearer 0.3125
      {1.0625f, 0x38},  // tie between 1.0 (even) and 1.125: to 1.0
      {1.1875f, 0x3a},  // tie between 1.125 and 1.25 (even): to 1.25
      {1.07f, 0x39},    // above the tie: 1.125
      {15.5f, 0x58},    // tie between 15 (odd mantissa) and 16: the carry into the exponent
      {448.0f, 0x7e},   // the largest finite value
      {-448.0f, 0xfe},
      {447.0f, 0x7e},   // rounds up to 448
      {464.0f, 0x7e},   // tie between 448 and 480 (no such value): saturates
      {1000.0f, 0x7e},  // saturates: no infinities in E4M3FN
      {-1e30f, 0xfe},
      {INFINITY, 0x7e},
      {-INFINITY, 0xfe},
      {sub, 0x01},  // the smallest subnormal
      {-sub, 0x81},
      {0.5f * sub, 0x00},   // tie between 0 (even) and 2^-9: to 0
      {0.51f * sub, 0x01},  // just above the tie
      {1.5f * sub, 0x02},   // tie between 1 and 2 (even)
      {2.5f * sub, 0x02},   // tie between 2 (even) and 3
      {7.0f * sub, 0x07},   // the largest subnormal
      {7.5f * sub, 0x08},   // tie between 7 and 8 (the smallest normal, 2^-6)
      {std::ldexp(1.0f, -6), 0x08},
      {std::ldexp(1.0f, -12), 0x00},  // underflows to zero
      {-std::ldexp(1.0f, -12), 0x80},
      {std::ldexp(1.0f, 8) * 1.0625f, 0x78},  // 272: tie between 256 and 288: to 256 (even)
  };
  for (const Case& c : cases) EXPECT_EQ(float_to_e4m3(c.value), c.code) << "value " << c.value;
  EXPECT_EQ(float_to_e4m3(NAN), 0x7f);
}

TEST(Fp8E4m3, DecodesEveryCodeAndEncodesItBack) {
  EXPECT_EQ(e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_float(0xfe), -448.0f);
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_float(0x07), 7.0f * std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_float(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(e4m3_to_float(0x2a), 0.3125f);
  EXPECT_TRUE(std::isnan(e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xff)));
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7f) == 0x7f) continue;
    EXPECT_EQ(float_to_e4m3(e4m3_to_float(static_cast<uint8_t>(code))), code) << "code " << code;
  }
  // Consecutive finite codes increase: every positive code is a distinct value.
  for (int code = 1; code < 0x7f; ++code)
    EXPECT_LT(e4m3_to_float(static_cast<uint8_t>(code - 1)),
              e4m3_to_float(static_cast<uint8_t>(code)));
}

// Against the definition: the nearest of the 127 non-negative finite values by exhaustive
// search, ties to the even code, over values dense around every code and its midpoints.
TEST(Fp8E4m3, MatchesExhaustiveNearestEvenSearch) {
  auto nearest = [](float magnitude) {
    int best = 0;
    for (int code = 1; code <= 0x7e; ++code) {
      const double d = std::fabs(double(e4m3_to_float(uint8_t(code))) - magnitude);
      const double best_d = std::fabs(double(e4m3_to_float(uint8_t(best))) - magnitude);
      if (d < best_d || (d == best_d && (code & 1) == 0)) best = code;
    }
    return magnitude >= 448.0f ? 0x7e : best;
  };
  for (int code = 0; code < 0x7e; ++code) {
    const float lo = e4m3_to_float(uint8_t(code)), hi = e4m3_to_float(uint8_t(code + 1));
    for (int k = 0; k <= 16; ++k) {
      const float value = lo + (hi - lo) * float(k) / 16.0f;
      const float probes[] = {value, std::nextafter(value, 0.0f), std::nextafter(value, 1e9f)};
      for (float probe : probes) {
        EXPECT_EQ(float_to_e4m3(probe), nearest(probe)) << "value " << probe;
        EXPECT_EQ(float_to_e4m3(-probe), 0x80 | nearest(probe)) << "value " << -probe;
      }
    }
  }
}

TEST(Fp8Quantize, ScalesEachRowByItsLargestMagnitude) {
  // Row 0: amax 2 (negative), row 1: all zero, row 2: amax 448 (scale 1, codes are the values).
  const std::vector<float> w = {1.0f, -2.0f, 0.5f, 0.0f, 0.0f, 0.0f, 448.0f, 1.0f, -0.3f};
  std::vector<uint8_t> codes(9);
  std::vector<float> scales(3);
  quantize_fp8_rows(w.data(), 3, 3, codes.data(), scales.data());
  EXPECT_EQ(scales[0], 2.0f / 448.0f);
  EXPECT_EQ(scales[1], 1.0f);
  EXPECT_EQ(scales[2], 1.0f);
  EXPECT_EQ(codes[1], 0xfe);  // the row's amax maps to -448
  EXPECT_EQ(codes[0], float_to_e4m3(1.0f / (2.0f / 448.0f)));
  EXPECT_EQ(codes[2], float_to_e4m3(0.5f / (2.0f / 448.0f)));
  for (int i = 3; i < 6; ++i) EXPECT_EQ(codes[i], 0x00);
  EXPECT_EQ(codes[6], 0x7e);
  EXPECT_EQ(codes[7], 0x38);
  EXPECT_EQ(codes[8], float_to_e4m3(-0.3f));
}

TEST(Fp8Quantize, RoundTripIsDequantizedCodesTimesScale) {
  std::vector<float> w(4 * 37);
  for (size_t i = 0; i < w.size(); ++i) w[i] = std::sin(0.7f * float(i)) * float(1 + i % 4);
  std::vector<uint8_t> codes(w.size());
  std::vector<float> scales(4);
  quantize_fp8_rows(w.data(), 4, 37, codes.data(), scales.data());
  std::vector<float> round_trip = w;
  fp8_round_trip_rows(round_trip.data(), 4, 37);
  for (size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(round_trip[i], e4m3_to_float(codes[i]) * scales[i / 37]) << i;
    // Three mantissa bits: within half a step (1/16 relative) of each normal value.
    EXPECT_NEAR(round_trip[i], w[i], std::fabs(w[i]) / 16 + scales[i / 37] * std::ldexp(1.0f, -9));
  }
}

TEST(Fp8Quantize, CheckpointViewMatchesTheFloatPath) {
  // A bf16 tensor quantizes exactly as its float32 values do.
  std::vector<uint16_t> bits(3 * 16);
  std::vector<float> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i) {
    bits[i] = float_to_bf16(std::cos(1.3f * float(i)) * 0.05f);
    values[i] = bf16_to_float(bits[i]);
  }
  const TensorView view{.dtype = DType::kBF16,
                        .shape = {3, 16},
                        .data = reinterpret_cast<const std::byte*>(bits.data()),
                        .nbytes = bits.size() * 2};
  std::vector<uint8_t> from_view(bits.size()), from_floats(bits.size());
  std::vector<float> view_scales(3), float_scales(3);
  quantize_fp8_rows(view, from_view.data(), view_scales.data(), "w");
  quantize_fp8_rows(values.data(), 3, 16, from_floats.data(), float_scales.data());
  EXPECT_EQ(from_view, from_floats);
  EXPECT_EQ(view_scales, float_scales);
}

TEST(Fp8Quantize, RejectsNonFiniteWeightsAndNonMatrices) {
  const std::vector<float> w = {1.0f, NAN};
  std::vector<uint8_t> codes(2);
  float scale;
  try {
    quantize_fp8_rows(w.data(), 1, 2, codes.data(), &scale);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected finite weights"), std::string::npos);
  }
  const TensorView vector{.dtype = DType::kF32,
                          .shape = {2},
                          .data = reinterpret_cast<const std::byte*>(w.data()),
                          .nbytes = 8};
  EXPECT_THROW(quantize_fp8_rows(vector, codes.data(), &scale, "w"), Error);
}

TEST(WeightFormatOption, ParsesBf16AndFp8AndNamesTheOptionOtherwise) {
  EXPECT_EQ(parse_weight_format("bf16"), WeightFormat::kBF16);
  EXPECT_EQ(parse_weight_format("fp8"), WeightFormat::kFP8);
  EXPECT_EQ(weight_format_name(WeightFormat::kFP8), "fp8");
  EXPECT_EQ(weight_format_name(WeightFormat::kBF16), "bf16");
  try {
    parse_weight_format("int4");
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), "--weights: expected bf16 or fp8, got 'int4'");
  }
}

}  // namespace
}  // namespace glmasr
