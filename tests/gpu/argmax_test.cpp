// Greedy argmax with the log-softmax of the chosen token.
#include "cuda/kernels/argmax.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::random_values;
using gpu_test::upload;

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
