// The matrix-vector kernel with fp8 weights (E4M3 codes and per-row scales, every fusion)
// against cpu::linear on the identical dequantized weights, and the dequantization kernel of
// the GEMM path against the host decoding.
#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cpu/ops.h"
#include "cuda/kernels/fp8_weights.h"
#include "cuda/kernels/gemv.h"
#include "cuda/kernels/rope.h"
#include "testing/gpu.h"
#include "testing/qkv_rope_case.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::Fp8Matrix;
using gpu_test::poisoned;
using gpu_test::quantize_and_upload;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

enum class Mode { kPlain, kNormResidual, kNormSwiglu };

// (dtype, batch, in, out, mode)
class GemvFp8Test : public ::testing::TestWithParam<std::tuple<DType, int, int, int, Mode>> {};

TEST_P(GemvFp8Test, MatchesCpuLinearOnTheDequantizedWeights) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, in, out, mode] = GetParam();
  const auto x = random_values(int64_t{batch} * in, dtype, 41, 0.0f, 2.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 42, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto norm_w = random_values(in, dtype, 43, 1.0f, 0.3f);
  const bool norm = mode != Mode::kPlain, swiglu = mode == Mode::kNormSwiglu;
  const int width = swiglu ? out / 2 : out;
  const auto residual = random_values(int64_t{batch} * width, dtype, 44, 0.0f, 1.0f);
  const Fp8Matrix fp8 = quantize_and_upload(w, out, in);

  std::vector<float> input = x;
  if (norm) {  // rounded where the kernel rounds: round(w_n * round(x * rsqrt(mean x^2 + eps)))
    for (int b = 0; b < batch; ++b) {
      const float* row = x.data() + size_t(b) * in;
      double squares = 0;
      for (int i = 0; i < in; ++i) squares += double(row[i]) * row[i];
      const float inv_rms = 1.0f / std::sqrt(float(squares / in) + 1e-5f);
      for (int i = 0; i < in; ++i)
        input[size_t(b) * in + i] =
            gpu_test::round_to(dtype, norm_w[i] * gpu_test::round_to(dtype, row[i] * inv_rms));
    }
  }
  std::vector<float> product(size_t(batch) * out);
  cpu::linear(input.data(), batch, in, fp8.dequantized.data(), nullptr, out, product.data());
  for (float& v : product) v = gpu_test::round_to(dtype, v);
  std::vector<float> expected(size_t(batch) * width);
  for (int b = 0; b < batch; ++b) {
    if (swiglu) {
      // Rounded where the kernel (and the bf16 reference) rounds: round(round(silu(g)) * u).
      for (int f = 0; f < width; ++f) {
        const float g = product[size_t(b) * out + f], u = product[size_t(b) * out + width + f];
        const float silu = gpu_test::round_to(dtype, g / (1.0f + std::exp(-g)));
        expected[size_t(b) * width + f] = gpu_test::round_to(dtype, silu * u);
      }
    } else {
      for (int n = 0; n < out; ++n)
        expected[size_t(b) * out + n] =
            product[size_t(b) * out + n] +
            (mode == Mode::kNormResidual ? residual[size_t(b) * out + n] : 0.0f);
    }
  }

  auto dx = upload(x, dtype), dn = upload(norm_w, dtype);
  auto dy = mode == Mode::kNormResidual ? upload(residual, dtype) : poisoned(expected.size());
  cuda::GemvParams p;
  p.dtype = dtype;
  p.w = fp8.codes.get();
  p.w_scale = fp8.scales.as<float>();
  p.out = out;
  p.in = in;
  p.x = dx.get();
  p.batch = batch;
  p.norm_weight = norm ? dn.get() : nullptr;
  p.swiglu_width = swiglu ? width : 0;
  p.residual = mode == Mode::kNormResidual ? dy.get() : nullptr;
  p.y = dy.get();
  cuda::gemv(p, nullptr);
  EXPECT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemvFp8Test,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16),
                       ::testing::Values(1, 2, 3, 5, 8), ::testing::Values(16, 48, 2048),
                       ::testing::Values(74, 3072),
                       ::testing::Values(Mode::kPlain, Mode::kNormResidual, Mode::kNormSwiglu)));

// The model's widths: QKV (2048 -> 16+2*4 heads of 128), o_proj, gate|up, down, lm_head.
INSTANTIATE_TEST_SUITE_P(
    RealWidths, GemvFp8Test,
    ::testing::Values(std::make_tuple(DType::kBF16, 1, 2048, 3072, Mode::kNormResidual),
                      std::make_tuple(DType::kBF16, 1, 2048, 2048, Mode::kPlain),
                      std::make_tuple(DType::kBF16, 1, 2048, 12288, Mode::kNormSwiglu),
                      std::make_tuple(DType::kBF16, 4, 2048, 12288, Mode::kNormSwiglu),
                      std::make_tuple(DType::kBF16, 1, 6144, 2048, Mode::kNormResidual),
                      std::make_tuple(DType::kBF16, 8, 6144, 2048, Mode::kPlain),
                      std::make_tuple(DType::kF16, 2, 18944, 3584, Mode::kPlain),
                      std::make_tuple(DType::kBF16, 1, 2048, 59264, Mode::kNormResidual)));

TEST(GemvFp8Test, TakesOnlyWidthsOfWholeSixteenByteLoads) {
  EXPECT_TRUE(cuda::gemv_supported(1, 24));
  EXPECT_FALSE(cuda::gemv_supported(1, 24, true));
  EXPECT_TRUE(cuda::gemv_supported(8, 2048, true));
  EXPECT_FALSE(cuda::gemv_supported(9, 2048, true));
  cuda::GemvParams p;
  const float scale = 1.0f;
  p.w_scale = &scale;  // never read: the shape is refused first
  p.out = 4;
  p.in = 24;
  gpu_test::expect_rejected([&] { cuda::gemv(p, nullptr); }, "multiple of 16 (fp8 weights)");
}

// Every E4M3 code widens exactly in the kernel instances of batch 1, 2 and 4: row n holds code n
// at input n % 64 and zeros elsewhere, x is all ones, so y[n] is the code's value times the
// row's (power-of-two) scale, with nothing to round but the output.
TEST(GemvFp8Test, EveryCodeWidensExactly) {
  GLMASR_SKIP_WITHOUT_GPU();
  const int64_t out = 256, in = 64;
  std::vector<uint8_t> codes(out * in, 0);
  std::vector<float> scales(out);
  for (int n = 0; n < out; ++n) {
    const bool nan = (n & 0x7f) == 0x7f;  // no NaN codes in quantized weights
    codes[n * in + n % in] = static_cast<uint8_t>(nan ? 0 : n);
    scales[n] = n % 3 == 0 ? 1.0f : 0.25f;  // powers of two: the scaled value stays exact
  }
  cuda::DeviceBuffer dcodes(codes.size()), dscales(scales.size() * 4);
  GLMASR_CUDA_CHECK(cudaMemcpy(dcodes.get(), codes.data(), codes.size(), cudaMemcpyHostToDevice));
  GLMASR_CUDA_CHECK(
      cudaMemcpy(dscales.get(), scales.data(), scales.size() * 4, cudaMemcpyHostToDevice));
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (int batch : {1, 2, 3}) {
      auto dx = upload(std::vector<float>(size_t(batch) * in, 1.0f), dtype);
      auto dy = poisoned(batch * out);
      cuda::GemvParams p;
      p.dtype = dtype;
      p.w = dcodes.get();
      p.w_scale = dscales.as<float>();
      p.out = out;
      p.in = in;
      p.x = dx.get();
      p.batch = batch;
      p.y = dy.get();
      cuda::gemv(p, nullptr);
      const std::vector<float> got = download(dy.get(), batch * out, dtype);
      for (int b = 0; b < batch; ++b)
        for (int n = 0; n < out; ++n) {
          const uint8_t code = codes[n * in + n % in];
          ASSERT_EQ(got[b * out + n], e4m3_to_float(code) * scales[n])
              << gpu_test::dtype_label(dtype) << " batch " << batch << " row " << b << " code "
              << int(code);
        }
    }
  }
}

// (dtype, batch, heads, kv_heads, head_dim, in)
class GemvFp8RopeTest
    : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, int>> {};

// With fp8 weights too, the fused QKV + RoPE + KV-write epilogue gives exactly what the plain
// fp8 product followed by rope_qkv gives, and leaves every other cache position alone.
TEST_P(GemvFp8RopeTest, MatchesTheProductFollowedByRopeQkv) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, heads, kv_heads, hd, in] = GetParam();
  gpu_test::QkvRopeCase rope(dtype, batch, heads, kv_heads, hd, 5, 11);
  const int out = rope.out();
  const auto x = random_values(int64_t{batch} * in, dtype, 51, 0.0f, 2.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 52, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto norm_w = random_values(in, dtype, 53, 1.0f, 0.3f);
  const Fp8Matrix fp8 = quantize_and_upload(w, out, in);
  auto dx = upload(x, dtype), dn = upload(norm_w, dtype);

  auto qkv = poisoned(int64_t{batch} * out);
  cuda::GemvParams p;
  p.dtype = dtype;
  p.w = fp8.codes.get();
  p.w_scale = fp8.scales.as<float>();
  p.out = out;
  p.in = in;
  p.x = dx.get();
  p.batch = batch;
  p.norm_weight = dn.get();
  p.y = qkv.get();
  cuda::gemv(p, nullptr);
  // The plain product is itself right (the dequantized weights on the CPU).
  std::vector<float> normed(x.size());
  cpu::rms_norm(x.data(), batch, in, norm_w.data(), 1e-5f, normed.data());
  for (float& v : normed) v = gpu_test::round_to(dtype, v);
  std::vector<float> product(size_t(batch) * out);
  cpu::linear(normed.data(), batch, in, fp8.dequantized.data(), nullptr, out, product.data());
  EXPECT_LT(relative_error(download(qkv.get(), product.size(), dtype), product),
            gpu_test::tolerance(dtype));
  rope.run_reference(qkv.get());

  cuda::GemvParams fused = p;
  fused.y = nullptr;
  fused.rope = rope.epilogue();
  cuda::gemv(fused, nullptr);
  rope.expect_same_bits();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemvFp8RopeTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 1, 16, 4, 128, 2048),  // real decoder
                      std::make_tuple(DType::kBF16, 3, 16, 4, 128, 2048),
                      std::make_tuple(DType::kBF16, 8, 16, 4, 128, 2048),
                      std::make_tuple(DType::kF16, 1, 28, 4, 128, 512),
                      std::make_tuple(DType::kBF16, 2, 2, 1, 12, 32),  // tiny: pairs span heads
                      std::make_tuple(DType::kF16, 8, 2, 1, 12, 16)));

// The GEMM path's weights: exactly round(e4m3 * scale) in the element type, every code, through
// the per-code kernel (a width that is not a multiple of 16) and the 16-code one.
TEST(Fp8DequantizeTest, MatchesTheHostDecodingOfEveryCode) {
  GLMASR_SKIP_WITHOUT_GPU();
  const int64_t rows = 3;
  for (int64_t cols : {int64_t{256 + 7}, int64_t{512}, int64_t{16}}) {
    std::vector<uint8_t> codes(rows * cols);
    for (size_t i = 0; i < codes.size(); ++i) {
      codes[i] = static_cast<uint8_t>((i * 7 + i / 256) % 256);
      if ((codes[i] & 0x7f) == 0x7f) codes[i] = 0;  // no NaN codes in quantized weights
    }
    const std::vector<float> scales = {1.0f, 0.003f, 1.0f / 448.0f};
    cuda::DeviceBuffer dcodes(codes.size()), dscales(scales.size() * 4);
    GLMASR_CUDA_CHECK(cudaMemcpy(dcodes.get(), codes.data(), codes.size(), cudaMemcpyHostToDevice));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(dscales.get(), scales.data(), scales.size() * 4, cudaMemcpyHostToDevice));
    for (DType dtype : {DType::kBF16, DType::kF16}) {
      auto out = poisoned(rows * cols);
      cuda::dequantize_fp8_rows(dtype, dcodes.get(), dscales.as<float>(), rows, cols, out.get(),
                                nullptr);
      const std::vector<float> got = download(out.get(), rows * cols, dtype);
      for (int64_t i = 0; i < rows * cols; ++i)
        ASSERT_EQ(got[i], gpu_test::round_to(dtype, e4m3_to_float(codes[i]) * scales[i / cols]))
            << gpu_test::dtype_label(dtype) << " width " << cols << " element " << i << " code "
            << int(codes[i]);
    }
  }
}

}  // namespace
}  // namespace glmasr
