// LayerNorm against cpu::layer_norm.
#include "cuda/kernels/layer_norm.h"

#include <gtest/gtest.h>

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

// (dtype, rows, dim): tiny test-model widths, real widths, and odd widths. Widths that are
// multiples of 8 up to 2048 take the warp-per-row kernel (8 rows per block: 7 and 19 rows leave
// a block part empty), the others the block-per-row kernel.
class LayerNormTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(LayerNormTest, MatchesCpu) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, dim] = GetParam();
  const auto x = random_values(int64_t{rows} * dim, dtype, 3, 0.5f, 2.0f);
  const auto w = random_values(dim, dtype, 4, 1.0f, 0.5f);
  const auto b = random_values(dim, dtype, 5, 0.0f, 0.5f);
  std::vector<float> expected(x.size());
  cpu::layer_norm(x.data(), rows, dim, w.data(), b.data(), 1e-5f, expected.data());
  auto dx = upload(x, dtype), dw = upload(w, dtype), db = upload(b, dtype);
  // In place, as the engine never does but the API allows.
  cuda::layer_norm(dtype, dx.get(), rows, dim, dw.get(), db.get(), 1e-5f, dx.get(), nullptr);
  EXPECT_LT(relative_error(download(dx.get(), x.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, LayerNormTest,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16), ::testing::Values(1, 7, 19),
                       ::testing::Values(16, 32, 1280, 1288, 2048, 3584, 1001)));

}  // namespace
}  // namespace glmasr
