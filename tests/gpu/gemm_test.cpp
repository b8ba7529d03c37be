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

// After use_loaded_kernels_for_new_shapes, row counts not seen before take an algorithm whose
// kernel has launched where the heuristic ranks one among its best; those products must be as
// right as the heuristic's first choice, and the kernels loaded stay few.
TEST(GemmStandInTest, NewShapesKeepToLoadedKernelsAndStayRight) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = DType::kBF16;
  const int in = 1280, out = 3840, most_rows = 1600;
  const auto x = random_values(int64_t{most_rows} * in, dtype, 41, 0.0f, 1.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 42, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto bias = random_values(out, dtype, 43, 0.0f, 0.5f);
  auto dx = upload(x, dtype), dw = upload(w, dtype), db = upload(bias, dtype);
  cuda::Gemm gemm(dtype);
  for (const int rows : {1000, 1500}) {  // the warm-up's shapes
    auto dy = poisoned(size_t(rows) * out);
    gemm.run(dx.get(), rows, in, dw.get(), out, db.get(), dy.get(), false, nullptr);
  }
  const int warm_kernels = gemm.stats().kernels_loaded;
  EXPECT_GE(warm_kernels, 1);
  gemm.use_loaded_kernels_for_new_shapes();
  int shapes = 0;
  for (int rows = 1001; rows <= most_rows; rows += 47, ++shapes) {
    std::vector<float> expected(size_t(rows) * out);
    cpu::linear(x.data(), rows, in, w.data(), bias.data(), out, expected.data());
    auto dy = poisoned(expected.size());
    gemm.run(dx.get(), rows, in, dw.get(), out, db.get(), dy.get(), false, nullptr);
    ASSERT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
              gpu_test::tolerance(dtype))
        << rows << " rows";
  }
  const cuda::Gemm::Stats& stats = gemm.stats();
  EXPECT_EQ(stats.plans, 2 + shapes);
  // Each new shape either stood in with a loaded kernel or loaded at most one more.
  EXPECT_LE(stats.kernels_loaded - warm_kernels, shapes - stats.stand_ins);
  EXPECT_GT(stats.stand_ins, 0) << "no new shape found a loaded kernel among the heuristic's "
                                << cuda::Gemm::kStandInCandidates << " best";
}

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
