// The skinny-batch tensor-core projection against cpu::linear: bf16 and fp16, bf16 and fp8
// weights, every epilogue, the RMSNorm prologue, every batch instance (8, 16, 32, 64 rows), tails
// of rows and of batch, and splits of the input (automatic and forced), whose partial sums must
// leave the workspace ready for the next launch and give the same bits on every run.
#include "cuda/kernels/skinny_gemm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cpu/ops.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

enum class Mode { kPlain, kResidual, kSwiglu };
enum class Weights { kElement, kFp8 };

struct Case {
  DType dtype;
  int batch;
  int64_t in, out;
  Mode mode;
  Weights weights;
  int split;          // 0: automatic
  bool norm = false;  // the RMSNorm prologue
};

constexpr float kEps = 1e-5f;

// What the kernel must give, from the CPU reference, rounded where the bf16 model rounds.
std::vector<float> expected_output(const Case& c, const std::vector<float>& x,
                                   const std::vector<float>& w, const std::vector<float>& norm_w,
                                   const std::vector<float>& residual) {
  std::vector<float> input = x;
  if (c.norm) {
    cpu::rms_norm(x.data(), c.batch, c.in, norm_w.data(), kEps, input.data());
    for (float& v : input) v = gpu_test::round_to(c.dtype, v);
  }
  std::vector<float> product(size_t(c.batch) * c.out);
  cpu::linear(input.data(), c.batch, c.in, w.data(), nullptr, c.out, product.data());
  for (float& v : product) v = gpu_test::round_to(c.dtype, v);
  const int64_t width = c.mode == Mode::kSwiglu ? c.out / 2 : c.out;
  std::vector<float> expected(size_t(c.batch) * width);
  for (int b = 0; b < c.batch; ++b) {
    for (int64_t n = 0; n < width; ++n) {
      const float* row = product.data() + size_t(b) * c.out;
      float& e = expected[size_t(b) * width + n];
      if (c.mode == Mode::kSwiglu) {
        const float g = row[n], u = row[width + n];
        e = gpu_test::round_to(c.dtype, gpu_test::round_to(c.dtype, g / (1.0f + std::exp(-g))) * u);
      } else {
        e = row[n] + (c.mode == Mode::kResidual ? residual[size_t(b) * width + n] : 0.0f);
      }
    }
  }
  return expected;
}

struct Output {
  std::vector<float> y;
  std::vector<uint16_t> bits;
};

// Launches the case `runs` times on fresh outputs (the same workspace) and returns the last.
Output run_case(const Case& c, int runs, std::vector<float>* expected_out) {
  const auto x = random_values(int64_t{c.batch} * c.in, c.dtype, 51, 0.0f, 2.0f);
  auto w = random_values(c.out * c.in, c.dtype, 52, 0.0f, 1.0f / std::sqrt(float(c.in)));
  const int64_t width = c.mode == Mode::kSwiglu ? c.out / 2 : c.out;
  const auto residual = random_values(int64_t{c.batch} * width, c.dtype, 53, 0.0f, 1.0f);
  const auto norm_w = random_values(c.in, c.dtype, 54, 1.0f, 0.3f);
  const bool fp8 = c.weights == Weights::kFp8;
  gpu_test::Fp8Matrix quantized;
  cuda::DeviceBuffer dw;
  if (fp8) {
    quantized = gpu_test::quantize_and_upload(w, c.out, c.in);
    w = quantized.dequantized;
  } else {
    dw = upload(w, c.dtype);
  }
  if (expected_out) *expected_out = expected_output(c, x, w, norm_w, residual);

  auto dx = upload(x, c.dtype), dn = upload(norm_w, c.dtype);
  cuda::SkinnyGemmParams p;
  p.dtype = c.dtype;
  p.w = fp8 ? quantized.codes.get() : dw.get();
  p.w_scale = fp8 ? quantized.scales.as<float>() : nullptr;
  p.out = c.out;
  p.in = c.in;
  p.x = dx.get();
  p.batch = c.batch;
  p.swiglu_width = c.mode == Mode::kSwiglu ? width : 0;
  p.residual = c.mode == Mode::kResidual;
  p.split = c.split;
  if (c.norm) {
    p.norm_weight = dn.get();
    p.eps = kEps;
  }
  const size_t bytes = cuda::skinny_gemm_workspace_bytes(p, c.batch, c.split);
  cuda::DeviceBuffer workspace(std::max<size_t>(bytes, 16));
  GLMASR_CUDA_CHECK(cudaMemset(workspace.get(), 0, workspace.bytes()));
  p.workspace = workspace.get();
  p.workspace_bytes = bytes;
  Output run;
  for (int i = 0; i < runs; ++i) {
    auto dy = c.mode == Mode::kResidual ? upload(residual, c.dtype) : poisoned(c.batch * width);
    p.y = dy.get();
    cuda::skinny_gemm(p, nullptr);
    run.y = download(dy.get(), c.batch * width, c.dtype);
    run.bits.assign(size_t(c.batch * width), 0);
    GLMASR_CUDA_CHECK(
        cudaMemcpy(run.bits.data(), dy.get(), run.bits.size() * 2, cudaMemcpyDeviceToHost));
  }
  return run;
}

class SkinnyGemmTest
    : public ::testing::TestWithParam<std::tuple<DType, int, std::tuple<int, int>, Mode, Weights>> {
};

TEST_P(SkinnyGemmTest, MatchesCpuLinear) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, shape, mode, weights] = GetParam();
  const Case c{dtype, batch, std::get<0>(shape), std::get<1>(shape), mode, weights, 0};
  std::vector<float> expected;
  const Output run = run_case(c, 1, &expected);
  EXPECT_LT(relative_error(run.y, expected), gpu_test::tolerance(dtype));
}

// (in, out): one step; a tail of rows in the last tile (200 = 3 x 64 + 8, SwiGLU 100 = 3 x 32 +
// 4) over a few steps; the model's QKV.
INSTANTIATE_TEST_SUITE_P(
    Shapes, SkinnyGemmTest,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                       ::testing::Values(1, 3, 9, 17, 40, 64),
                       ::testing::Values(std::make_tuple(128, 72), std::make_tuple(512, 200),
                                         std::make_tuple(2048, 3072)),
                       ::testing::Values(Mode::kPlain, Mode::kResidual, Mode::kSwiglu),
                       ::testing::Values(Weights::kElement, Weights::kFp8)));

// The model's other widths (o_proj, gate|up, down, lm_head) and the seed report's down_proj.
INSTANTIATE_TEST_SUITE_P(
    RealWidths, SkinnyGemmTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 16, std::make_tuple(2048, 2048),
                                      Mode::kResidual, Weights::kElement),
                      std::make_tuple(DType::kBF16, 32, std::make_tuple(2048, 12288), Mode::kSwiglu,
                                      Weights::kElement),
                      std::make_tuple(DType::kBF16, 64, std::make_tuple(6144, 2048),
                                      Mode::kResidual, Weights::kFp8),
                      std::make_tuple(DType::kBF16, 5, std::make_tuple(2048, 59264), Mode::kPlain,
                                      Weights::kElement),
                      std::make_tuple(DType::kBF16, 24, std::make_tuple(2048, 59264), Mode::kPlain,
                                      Weights::kFp8),
                      std::make_tuple(DType::kF16, 12, std::make_tuple(18944, 3584),
                                      Mode::kResidual, Weights::kElement)));

// (dtype, batch, (in, out), mode, weights)
class SkinnyGemmNormTest
    : public ::testing::TestWithParam<std::tuple<DType, int, std::tuple<int, int>, Mode, Weights>> {
};

// The RMSNorm prologue (batches up to 8): each row normalized with its own scale and the norm
// weights of each stage's inputs, whichever block multiplies them.
TEST_P(SkinnyGemmNormTest, MatchesRmsNormThenCpuLinear) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, shape, mode, weights] = GetParam();
  for (int split : {0, 3}) {
    Case c{dtype, batch, std::get<0>(shape), std::get<1>(shape), mode, weights, split};
    c.norm = true;
    std::vector<float> expected;
    const Output run = run_case(c, 2, &expected);
    EXPECT_LT(relative_error(run.y, expected), gpu_test::tolerance(dtype)) << "split " << split;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SkinnyGemmNormTest,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16), ::testing::Values(1, 2, 5, 8),
                       ::testing::Values(std::make_tuple(512, 200), std::make_tuple(2048, 3072)),
                       ::testing::Values(Mode::kPlain, Mode::kSwiglu),
                       ::testing::Values(Weights::kElement, Weights::kFp8)));

// Forced splits, even and uneven (48 input steps: a split of 5 gives four blocks of 10 steps and
// one of 8), each within the tolerance, the same bits on every run (the fixed summation order), and
// the counters left at zero (a second launch on the same workspace is right too).
TEST(SkinnyGemmSplitTest, EverySplitMatchesAndRepeatsItsBits) {
  GLMASR_SKIP_WITHOUT_GPU();
  for (int split : {1, 2, 3, 5, 16}) {
    for (Weights weights : {Weights::kElement, Weights::kFp8}) {
      const Case c{DType::kBF16, 20, 6144, 520, Mode::kResidual, weights, split};
      std::vector<float> expected;
      const Output first = run_case(c, 1, &expected);
      const Output third = run_case(c, 3, nullptr);
      EXPECT_LT(relative_error(first.y, expected), gpu_test::tolerance(DType::kBF16))
          << "split " << split;
      EXPECT_EQ(first.bits, third.bits) << "split " << split;
    }
  }
}

TEST(SkinnyGemmSplitTest, AutomaticSplitFillsTheDeviceForShortMatrices) {
  GLMASR_SKIP_WITHOUT_GPU();
  cuda::SkinnyGemmParams p;
  p.batch = 8;
  p.in = 2048;
  p.out = 2048;  // 32 tiles of 64 rows: too few for one block each
  EXPECT_GT(cuda::skinny_gemm_split(p), 1);
  p.out = 59264;  // 926 tiles: more than the device holds at once
  EXPECT_EQ(cuda::skinny_gemm_split(p), 1);
}

TEST(SkinnyGemmSplitTest, RefusesWhatItCannotTake) {
  EXPECT_FALSE(cuda::skinny_gemm_supported(65, 2048));
  EXPECT_FALSE(cuda::skinny_gemm_supported(8, 2000));
  EXPECT_FALSE(cuda::skinny_gemm_supported(0, 2048));
  EXPECT_TRUE(cuda::skinny_gemm_supported(64, 6144));
  cuda::SkinnyGemmParams p;
  p.batch = 4;
  p.in = 96;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "positive multiple of 128");
  p.in = 256;
  p.out = 100;
  p.swiglu_width = 40;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "out = 2 * swiglu_width");
  p.swiglu_width = 0;
  p.batch = 9;
  int norm_weight = 0;
  p.norm_weight = &norm_weight;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "RMSNorm prologue");
}

TEST(SkinnyGemmSplitTest, RefusesASplitWithoutItsWorkspace) {
  cuda::SkinnyGemmParams p;
  p.batch = 4;
  p.in = 1024;
  p.out = 64;
  p.split = 4;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "bytes of workspace");
}

}  // namespace
}  // namespace glmasr
