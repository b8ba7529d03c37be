// GELU (+bias), SwiGLU, embedding gather with audio splicing, greedy argmax.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cpu/ops.h"
#include "cuda/kernels/argmax.h"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/gelu.h"
#include "cuda/kernels/swiglu.h"
#include "gpu_test_util.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

class ActivationTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(ActivationTest, GeluWithBiasMatchesCpu) {
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

TEST_P(ActivationTest, SwigluMatchesCpu) {
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

INSTANTIATE_TEST_SUITE_P(Shapes, ActivationTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 5, 1500),
                                            ::testing::Values(40, 128, 4096, 6144)));

TEST(EmbeddingTest, GathersTokensAndSplicesAudioRows) {
  GLMASR_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    const int vocab = 100, dim = 24, rows = 6;
    const auto table = random_values(int64_t{vocab} * dim, dtype, 41);
    const auto audio = random_values(int64_t{2} * dim, dtype, 42);
    const std::vector<int32_t> ids = {5, 99, 7, 7, 0, 3};
    const std::vector<int32_t> audio_row = {-1, -1, 0, 1, -1, -1};
    std::vector<float> expected;
    for (int r = 0; r < rows; ++r) {
      const float* src =
          audio_row[r] >= 0 ? audio.data() + audio_row[r] * dim : table.data() + ids[r] * dim;
      expected.insert(expected.end(), src, src + dim);
    }
    auto dt = upload(table, dtype), da = upload(audio, dtype);
    cuda::DeviceBuffer di(rows * 4), dr(rows * 4);
    GLMASR_CUDA_CHECK(cudaMemcpy(di.get(), ids.data(), rows * 4, cudaMemcpyHostToDevice));
    GLMASR_CUDA_CHECK(cudaMemcpy(dr.get(), audio_row.data(), rows * 4, cudaMemcpyHostToDevice));
    auto out = poisoned(int64_t{rows} * dim);
    cuda::embed_tokens(dtype, dt.get(), vocab, dim, di.as<int32_t>(), dr.as<int32_t>(), da.get(),
                       rows, out.get(), nullptr);
    EXPECT_EQ(download(out.get(), int64_t{rows} * dim, dtype), expected)
        << gpu_test::dtype_label(dtype);
    // Without audio: plain gather.
    cuda::embed_tokens(dtype, dt.get(), vocab, dim, di.as<int32_t>(), nullptr, nullptr, rows,
                       out.get(), nullptr);
    const auto plain = download(out.get(), int64_t{rows} * dim, dtype);
    for (int i = 0; i < dim; ++i) EXPECT_EQ(plain[2 * dim + i], table[7 * dim + i]);
  }
}

// (dtype, rows, vocab)
class ArgmaxTest : public ::testing::TestWithParam<std::tuple<DType, int, int>> {};

TEST_P(ArgmaxTest, FindsFirstMaximumAndItsLogSoftmax) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, rows, vocab] = GetParam();
  auto logits = random_values(int64_t{rows} * vocab, dtype, 51, 0.0f, 8.0f);
  // A tie in row 0: the first index must win.
  logits[17] = logits[vocab - 3] = 20.0f;
  std::vector<int32_t> expected_token(rows);
  std::vector<double> expected_logprob(rows);
  for (int r = 0; r < rows; ++r) {
    const float* row = logits.data() + size_t(r) * vocab;
    int best = 0;
    for (int i = 1; i < vocab; ++i)
      if (row[i] > row[best]) best = i;
    double sum = 0;
    for (int i = 0; i < vocab; ++i) sum += std::exp(double(row[i]) - row[best]);
    expected_token[r] = best;
    expected_logprob[r] = -std::log(sum);
  }
  auto dl = upload(logits, dtype);
  cuda::DeviceBuffer token(rows * 4), logprob(rows * 4);
  cuda::DeviceBuffer workspace(cuda::greedy_argmax_workspace_bytes(rows));
  GLMASR_CUDA_CHECK(cudaMemset(workspace.get(), 0, workspace.bytes()));
  // Twice with poisoned outputs: the first call must leave the workspace ready for the next.
  for (int call = 0; call < 2; ++call) {
    SCOPED_TRACE("call " + std::to_string(call));
    GLMASR_CUDA_CHECK(cudaMemset(token.get(), 0xff, token.bytes()));
    GLMASR_CUDA_CHECK(cudaMemset(logprob.get(), 0xff, logprob.bytes()));
    cuda::greedy_argmax(dtype, dl.get(), rows, vocab, token.as<int32_t>(), logprob.as<float>(),
                        workspace.get(), nullptr);
    std::vector<int32_t> got_token(rows);
    std::vector<float> got_logprob(rows);
    GLMASR_CUDA_CHECK(cudaMemcpy(got_token.data(), token.get(), rows * 4, cudaMemcpyDeviceToHost));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(got_logprob.data(), logprob.get(), rows * 4, cudaMemcpyDeviceToHost));
    EXPECT_EQ(got_token[0], 17);
    for (int r = 0; r < rows; ++r) {
      EXPECT_EQ(got_token[r], expected_token[r]) << "row " << r;
      EXPECT_NEAR(got_logprob[r], expected_logprob[r], 1e-4 + 1e-5 * std::abs(expected_logprob[r]));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ArgmaxTest,
                         ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                                            ::testing::Values(1, 3, 8),
                                            // 70001: no 16-byte vectors; 131072:
                                            // two rounds of vector loads per thread.
                                            ::testing::Values(100, 59264, 70001, 131072)));

}  // namespace
}  // namespace glmasr
