// GELU (+bias) against cpu::gelu.
#include "cuda/kernels/gelu.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "cpu/ops.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

// (dtype, rows, cols): one row, a few, an encoder window; tiny and real widths (multiples of 8
// take the 16-byte kernel) and an odd one (the scalar kernel).
class GeluTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(GeluTest, GeluWithBiasMatchesCpu) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, cols] = GetParam();
  auto x = random_values(int64_t{rows} * cols, dtype, 31, 0.0f, 4.0f);
  const auto bias = random_values(cols, dtype, 32, 0.0f, 1.0f);
  std::vector<float> expected = x;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c)
      expected[size_t(r) * cols + c] =
          gpu_test::round_to(dtype, expected[size_t(r) * cols + c] + bias[c]);
  cpu::gelu(expected.data(), int64_t(expected.size()));
  auto dx = upload(x, dtype), db = upload(bias, dtype);
  cuda::gelu(dtype, dx.get(), rows, cols, db.get(), nullptr);
  EXPECT_LT(relative_error(download(dx.get(), x.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GeluTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 5, 1500),
                                            ::testing::Values(40, 128, 4096, 6144, 1001)));

}  // namespace
}  // namespace glmasr
