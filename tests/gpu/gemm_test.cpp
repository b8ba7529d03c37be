// The cuBLASLt GEMM (bias, accumulation) against cpu::linear, and the GEMM followed by GELU in
// both placements against cpu::linear + cpu::gelu (the exact form).
#include "cuda/kernels/gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>
#include <vector>

#include "cpu/ops.h"
#include "cuda/kernels/gemm_gelu.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

// (dtype, rows, in, out, bias, accumulate)
class GemmTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, bool, bool>> {};

TEST_P(GemmTest, MatchesCpuLinear) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, in, out, with_bias, accumulate] = GetParam();
  const auto x = random_values(int64_t{rows} * in, dtype, 21, 0.0f, 1.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 22, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto bias = random_values(out, dtype, 23, 0.0f, 0.5f);
  const auto residual = random_values(int64_t{rows} * out, dtype, 24, 0.0f, 1.0f);
  std::vector<float> expected(size_t(rows) * out);
  cpu::linear(x.data(), rows, in, w.data(), with_bias ? bias.data() : nullptr, out,
              expected.data());
  if (accumulate) cpu::add_inplace(expected.data(), residual.data(), int64_t(expected.size()));
  auto dx = upload(x, dtype), dw = upload(w, dtype), db = upload(bias, dtype);
  auto dy = accumulate ? upload(residual, dtype) : poisoned(expected.size());
  cuda::Gemm gemm(dtype);
  gemm.run(dx.get(), rows, in, dw.get(), out, with_bias ? db.get() : nullptr, dy.get(), accumulate,
           nullptr);
  EXPECT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 153, 1500),
                                            ::testing::Values(16, 32, 1280),
                                            ::testing::Values(48, 128, 3840), ::testing::Bool(),
                                            ::testing::Bool()));

// (dtype, rows, in, out, bias, placement)
class GemmGeluTest
    : public ::testing::TestWithParam<std::tuple<DType, int, int, int, bool, cuda::GeluPlacement>> {
};

TEST_P(GemmGeluTest, MatchesCpuLinearThenExactGelu) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, in, out, with_bias, placement] = GetParam();
  // Pre-activations of deviation ~2 cover GELU's curved part, where the tanh form differs most.
  const auto x = random_values(int64_t{rows} * in, dtype, 31, 0.0f, 1.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 32, 0.0f, 2.0f / std::sqrt(float(in)));
  const auto bias = random_values(out, dtype, 33, 0.0f, 0.5f);
  std::vector<float> expected(size_t(rows) * out);
  cpu::linear(x.data(), rows, in, w.data(), with_bias ? bias.data() : nullptr, out,
              expected.data());
  cpu::gelu(expected.data(), int64_t(expected.size()));
  auto dx = upload(x, dtype), dw = upload(w, dtype), db = upload(bias, dtype);
  auto dy = poisoned(expected.size());
  cuda::Gemm gemm(dtype);
  cuda::gemm_gelu(gemm, placement, dx.get(), rows, in, dw.get(), out,
                  with_bias ? db.get() : nullptr, dy.get(), nullptr);
  EXPECT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(Shapes, GemmGeluTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 1500), ::testing::Values(32, 1280),
                                            ::testing::Values(48, 5120), ::testing::Bool(),
                                            ::testing::Values(cuda::GeluPlacement::kGemmEpilogue,
                                                              cuda::GeluPlacement::kExactPass)));

}  // namespace
}  // namespace glmasr
