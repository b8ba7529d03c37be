// RMSNorm against cpu::rms_norm.
#include "cuda/kernels/rms_norm.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

#include "cpu/ops.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

// (dtype, rows, dim): tiny test-model widths, real widths, and odd widths.
class RmsNormTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(RmsNormTest, MatchesCpu) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, dim] = GetParam();
  const auto x = random_values(int64_t{rows} * dim, dtype, 1, 0.0f, 3.0f);
  const auto w = random_values(dim, dtype, 2, 1.0f, 0.5f);
  std::vector<float> expected(x.size());
  cpu::rms_norm(x.data(), rows, dim, w.data(), 1e-5f, expected.data());
  auto dx = upload(x, dtype), dw = upload(w, dtype);
  auto dy = poisoned(x.size());
  cuda::rms_norm(dtype, dx.get(), rows, dim, dw.get(), 1e-5f, dy.get(), nullptr);
  EXPECT_LT(relative_error(download(dy.get(), x.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, RmsNormTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 7),
                                            ::testing::Values(16, 32, 1280, 2048, 3584, 1001)));

}  // namespace
}  // namespace glmasr
