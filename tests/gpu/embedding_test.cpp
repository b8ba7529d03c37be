// Embedding gather with audio rows spliced in.
#include "cuda/kernels/embedding.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::upload;

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

}  // namespace
}  // namespace glmasr
