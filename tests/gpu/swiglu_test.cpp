// SwiGLU (silu(gate) * up over fused gate|up rows) against cpu::silu_mul.
#include "cuda/kernels/swiglu.h"

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

// (dtype, rows, width): one row, a few, an encoder window; tiny and real widths.
class SwigluTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(SwigluTest, SwigluMatchesCpu) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, width] = GetParam();
  const auto gate_up = random_values(int64_t{rows} * 2 * width, dtype, 33, 0.0f, 4.0f);
  std::vector<float> expected(size_t(rows) * width);
  for (int r = 0; r < rows; ++r)
    cpu::silu_mul(gate_up.data() + size_t(r) * 2 * width,
                  gate_up.data() + size_t(r) * 2 * width + width, width,
                  expected.data() + size_t(r) * width);
  auto dg = upload(gate_up, dtype);
  auto dy = poisoned(expected.size());
  cuda::swiglu(dtype, dg.get(), rows, width, dy.get(), nullptr);
  EXPECT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, SwigluTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 5, 1500),
                                            ::testing::Values(40, 128, 4096, 6144)));

}  // namespace
}  // namespace glmasr
