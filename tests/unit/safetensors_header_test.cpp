// parse_safetensors_header on hostile headers: regressions for what fuzzing and review found
// (tests/fuzz/safetensors_fuzz.cpp drives the same function with random input).
#include <gtest/gtest.h>

#include <string>

#include "core/error.h"
#include "io/safetensors.h"

namespace glmasr {
namespace {

std::string error_of(const std::string& header, uint64_t data_size) {
  try {
    parse_safetensors_header(header, data_size, "h.safetensors");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string tensor(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return R"({"x":{"dtype":")" + dtype + R"(","shape":)" + shape + R"(,"data_offsets":)" + offsets +
         "}}";
}

TEST(SafetensorsHeader, AcceptsScalarsAndEmptyTensors) {
  const auto entries = parse_safetensors_header(
      R"({"__metadata__":{"format":"pt"},"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
      R"("e":{"dtype":"BF16","shape":[0,3],"data_offsets":[4,4]}})",
      4, "h");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries.at("s").shape, Shape{});
  EXPECT_EQ(entries.at("e").shape, (Shape{0, 3}));
}

TEST(SafetensorsHeader, ZeroExtentDoesNotHideAnOverflowingShape) {
  // count is 0, but the other extents multiply past int64: shapes are int64 downstream.
  EXPECT_NE(error_of(tensor("U8", "[0,4611686018427387904,4611686018427387904]", "[0,0]"), 0)
                .find("shape overflows"),
            std::string::npos);
  EXPECT_NE(error_of(tensor("U8", "[0,9223372036854775808]", "[0,0]"), 0).find("shape overflows"),
            std::string::npos);
  // The largest representable extent is still fine with a zero beside it.
  EXPECT_EQ(error_of(tensor("U8", "[0,9223372036854775807]", "[0,0]"), 0), "");
}

TEST(SafetensorsHeader, NegativeAndNonIntegerNumbersAreRejected) {
  for (const char* shape : {"[-1]", "[2.0]", "[\"2\"]", "[null]"})
    EXPECT_NE(error_of(tensor("U8", shape, "[0,2]"), 2).find("must be a non-negative integer"),
              std::string::npos)
        << shape;
  for (const char* offsets : {"[-2,0]", "[0,1e1]", "[0,18446744073709551616]"})
    EXPECT_NE(error_of(tensor("U8", "[0]", offsets), 16).find("must be a non-negative integer"),
              std::string::npos)
        << offsets;
}

TEST(SafetensorsHeader, HugeOffsetsAreReportedNotWrapped) {
  const std::string error =
      error_of(tensor("U8", "[1]", "[18446744073709551614,18446744073709551615]"), 8);
  EXPECT_NE(error.find("data ends at byte 18446744073709551615"), std::string::npos) << error;
}

}  // namespace
}  // namespace glmasr
