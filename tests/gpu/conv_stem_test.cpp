// The conv stem (im2col + GEMM + GELU, twice; GELU in either placement) against
// cpu::conv1d_k3 + cpu::gelu (the exact form).
#include "cuda/kernels/conv_stem.h"

#include <gtest/gtest.h>

#include <tuple>

#include "cpu/ops.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

// [out, in, 3] -> [out, 3, in], as the engine uploads conv weights.
std::vector<float> tap_major(const std::vector<float>& w, int out, int in) {
  std::vector<float> permuted(w.size());
  for (int o = 0; o < out; ++o)
    for (int c = 0; c < in; ++c)
      for (int k = 0; k < 3; ++k)
        permuted[(size_t(o) * 3 + k) * in + c] = w[(size_t(o) * in + c) * 3 + k];
  return permuted;
}

// (dtype, windows, mel bins, mel frames, hidden)
class ConvStemTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int>> {};

TEST_P(ConvStemTest, MatchesCpuConvolutions) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, windows, mel, frames, hidden] = GetParam();
  const int out_frames = (frames - 1) / 2 + 1;
  // The mel stays float32 on the device; the kernel rounds it like the reference's cast.
  const auto mel_values =
      random_values(int64_t{windows} * mel * frames, DType::kBF16, 81, -0.2f, 1.0f);
  const auto w1 =
      random_values(int64_t{hidden} * mel * 3, dtype, 82, 0.0f, 1.0f / std::sqrt(3.0f * mel));
  const auto b1 = random_values(hidden, dtype, 83, 0.0f, 0.1f);
  const auto w2 =
      random_values(int64_t{hidden} * hidden * 3, dtype, 84, 0.0f, 1.0f / std::sqrt(3.0f * hidden));
  const auto b2 = random_values(hidden, dtype, 85, 0.0f, 0.1f);

  std::vector<float> expected;
  for (int w = 0; w < windows; ++w) {
    std::vector<float> h1(size_t(hidden) * frames), h2(size_t(hidden) * out_frames);
    cpu::conv1d_k3(mel_values.data() + size_t(w) * mel * frames, mel, frames, w1.data(), b1.data(),
                   hidden, 1, h1.data());
    for (float& v : h1) v = gpu_test::round_to(dtype, v);
    cpu::gelu(h1.data(), int64_t(h1.size()));
    for (float& v : h1) v = gpu_test::round_to(dtype, v);
    cpu::conv1d_k3(h1.data(), hidden, frames, w2.data(), b2.data(), hidden, 2, h2.data());
    for (float& v : h2) v = gpu_test::round_to(dtype, v);
    cpu::gelu(h2.data(), int64_t(h2.size()));
    for (int t = 0; t < out_frames; ++t)  // [hidden, T] -> [T, hidden]
      for (int c = 0; c < hidden; ++c) expected.push_back(h2[size_t(c) * out_frames + t]);
  }

  cuda::DeviceBuffer dmel(mel_values.size() * 4);
  GLMASR_CUDA_CHECK(
      cudaMemcpy(dmel.get(), mel_values.data(), dmel.bytes(), cudaMemcpyHostToDevice));
  auto dw1 = upload(tap_major(w1, hidden, mel), dtype), db1 = upload(b1, dtype);
  auto dw2 = upload(tap_major(w2, hidden, hidden), dtype), db2 = upload(b2, dtype);
  cuda::DeviceBuffer columns1(size_t(windows) * frames * 3 * mel * 2),
      conv1(size_t(windows) * frames * hidden * 2),
      columns2(size_t(windows) * out_frames * 3 * hidden * 2),
      out(size_t(windows) * out_frames * hidden * 2);
  cuda::Gemm gemm(dtype);
  for (const auto placement :
       {cuda::GeluPlacement::kGemmEpilogue, cuda::GeluPlacement::kExactPass}) {
    SCOPED_TRACE(placement == cuda::GeluPlacement::kGemmEpilogue ? "GELU in the GEMM epilogue"
                                                                 : "exact GELU pass");
    GLMASR_CUDA_CHECK(cudaMemset(out.get(), 0xFF, out.bytes()));
    cuda::conv_stem(gemm, placement, {dw1.get(), db1.get(), dw2.get(), db2.get()}, dmel.as<float>(),
                    windows, mel, frames, hidden, columns1.get(), conv1.get(), columns2.get(),
                    out.get(), nullptr);
    EXPECT_LT(relative_error(download(out.get(), expected.size(), dtype), expected),
              gpu_test::tolerance(dtype));
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvStemTest,
                         ::testing::Values(std::make_tuple(DType::kBF16, 2, 128, 3000, 32),
                                           std::make_tuple(DType::kF16, 1, 128, 3000, 32),
                                           std::make_tuple(DType::kBF16, 2, 128, 41, 1280),
                                           std::make_tuple(DType::kF16, 1, 128, 40, 1280)));

}  // namespace
}  // namespace glmasr
