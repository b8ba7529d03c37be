// The matrix-vector kernel (and its fusions) against cpu::linear.
#include "cuda/kernels/gemv.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "cpu/ops.h"
#include "cuda/kernels/rope.h"
#include "testing/gpu.h"
#include "testing/qkv_rope_case.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

enum class Mode { kPlain, kNormResidual, kNormSwiglu };

// (dtype, batch, in, out, mode)
class GemvTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, Mode>> {};

TEST_P(GemvTest, MatchesCpuLinear) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, in, out, mode] = GetParam();
  const auto x = random_values(int64_t{batch} * in, dtype, 11, 0.0f, 2.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 12, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto norm_w = random_values(in, dtype, 13, 1.0f, 0.3f);
  const bool norm = mode != Mode::kPlain, swiglu = mode == Mode::kNormSwiglu;
  const int width = swiglu ? out / 2 : out;
  const auto residual = random_values(int64_t{batch} * width, dtype, 14, 0.0f, 1.0f);

  std::vector<float> input = x;
  if (norm) {
    cpu::rms_norm(x.data(), batch, in, norm_w.data(), 1e-5f, input.data());
    for (float& v : input) v = gpu_test::round_to(dtype, v);
  }
  std::vector<float> product(size_t(batch) * out);
  cpu::linear(input.data(), batch, in, w.data(), nullptr, out, product.data());
  for (float& v : product) v = gpu_test::round_to(dtype, v);
  std::vector<float> expected(size_t(batch) * width);
  for (int b = 0; b < batch; ++b) {
    if (swiglu) {
      cpu::silu_mul(product.data() + size_t(b) * out, product.data() + size_t(b) * out + width,
                    width, expected.data() + size_t(b) * width);
    } else {
      for (int n = 0; n < out; ++n)
        expected[size_t(b) * out + n] =
            product[size_t(b) * out + n] +
            (mode == Mode::kNormResidual ? residual[size_t(b) * out + n] : 0.0f);
    }
  }

  auto dx = upload(x, dtype), dw = upload(w, dtype), dn = upload(norm_w, dtype);
  auto dy = mode == Mode::kNormResidual ? upload(residual, dtype) : poisoned(expected.size());
  cuda::GemvParams p;
  p.dtype = dtype;
  p.w = dw.get();
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
    Shapes, GemvTest,
    ::testing::Combine(::testing::Values(DType::kBF16, DType::kF16), ::testing::Values(1, 2, 3, 8),
                       ::testing::Values(16, 40, 2048), ::testing::Values(48, 80, 3072, 12288),
                       ::testing::Values(Mode::kPlain, Mode::kNormResidual, Mode::kNormSwiglu)));

// Real decode widths that the grid above does not reach (down_proj, lm_head).
INSTANTIATE_TEST_SUITE_P(
    RealWidths, GemvTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 1, 6144, 2048, Mode::kNormResidual),
                      std::make_tuple(DType::kF16, 2, 18944, 3584, Mode::kPlain),
                      std::make_tuple(DType::kBF16, 1, 2048, 59264, Mode::kNormResidual)));

// The carveout only changes where blocks may run: every value gives the same bits.
TEST(GemvTest, SameBitsWithAnySharedCarveout) {
  GLMASR_SKIP_WITHOUT_GPU();
  const int in = 2048, out = 3072;
  auto dx = upload(random_values(in, DType::kBF16, 21, 0.0f, 2.0f), DType::kBF16);
  auto dw = upload(random_values(int64_t{out} * in, DType::kBF16, 22, 0.0f, 0.02f), DType::kBF16);
  auto dy = poisoned(out);
  cuda::GemvParams p;
  p.w = dw.get();
  p.out = out;
  p.in = in;
  p.x = dx.get();
  p.y = dy.get();
  cuda::gemv(p, nullptr);
  const std::vector<float> driver = download(dy.get(), out, DType::kBF16);
  for (int carveout : {0, 14, 28, 100}) {
    p.shared_carveout = carveout;
    cuda::gemv(p, nullptr);
    EXPECT_EQ(download(dy.get(), out, DType::kBF16), driver) << "carveout " << carveout;
  }
  for (int bad : {-2, 101}) {
    p.shared_carveout = bad;
    gpu_test::expect_rejected([&] { cuda::gemv(p, nullptr); }, "shared_carveout: expected -1");
  }
}

// The batch-1 kernel compiled for 4 blocks per SM (GemvParams::blocks_per_sm) computes the same
// sums in the same order as the default one: the same bits for every epilogue, both element
// types and fp8 codes, at the real decoder's and the seed shape's widths (a ragged last round
// of loads at in = 3584); other batches and values are refused.
TEST(GemvTest, FourBlocksPerSmGiveTheSameBits) {
  GLMASR_SKIP_WITHOUT_GPU();
  struct Case {
    DType dtype;
    int in, out;
    Mode mode;
    bool fp8;
  };
  const Case cases[] = {{DType::kBF16, 2048, 3072, Mode::kPlain, false},
                        {DType::kBF16, 2048, 12288, Mode::kNormSwiglu, false},
                        {DType::kBF16, 6144, 2048, Mode::kNormResidual, false},
                        {DType::kF16, 3584, 37888, Mode::kNormSwiglu, false},
                        {DType::kF16, 18944, 3584, Mode::kNormResidual, false},
                        {DType::kBF16, 2048, 12288, Mode::kNormSwiglu, true},
                        {DType::kBF16, 6144, 2048, Mode::kNormResidual, true}};
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.in << " -> " << c.out << (c.fp8 ? " fp8" : ""));
    const bool norm = c.mode != Mode::kPlain, swiglu = c.mode == Mode::kNormSwiglu;
    const int width = swiglu ? c.out / 2 : c.out;
    const auto w =
        random_values(int64_t{c.out} * c.in, c.dtype, 32, 0.0f, 1.0f / std::sqrt(float(c.in)));
    auto dx = upload(random_values(c.in, c.dtype, 31, 0.0f, 2.0f), c.dtype);
    auto dn = upload(random_values(c.in, c.dtype, 33, 1.0f, 0.3f), c.dtype);
    const auto residual = random_values(width, c.dtype, 34, 0.0f, 1.0f);
    auto dw = upload(c.fp8 ? std::vector<float>{0.0f} : w, c.dtype);
    const gpu_test::Fp8Matrix codes =
        c.fp8 ? gpu_test::quantize_and_upload(w, c.out, c.in) : gpu_test::Fp8Matrix{};
    auto run = [&](int blocks_per_sm) {
      auto dy = c.mode == Mode::kNormResidual ? upload(residual, c.dtype) : poisoned(width);
      cuda::GemvParams p;
      p.dtype = c.dtype;
      p.w = c.fp8 ? codes.codes.get() : dw.get();
      p.w_scale = c.fp8 ? codes.scales.as<float>() : nullptr;
      p.out = c.out;
      p.in = c.in;
      p.x = dx.get();
      p.norm_weight = norm ? dn.get() : nullptr;
      p.swiglu_width = swiglu ? width : 0;
      p.residual = c.mode == Mode::kNormResidual ? dy.get() : nullptr;
      p.y = dy.get();
      p.blocks_per_sm = blocks_per_sm;
      cuda::gemv(p, nullptr);
      return download(dy.get(), size_t(width), c.dtype);
    };
    const std::vector<float> three = run(0), four = run(4);
    EXPECT_EQ(four, three);
    EXPECT_TRUE(std::all_of(three.begin(), three.end(), [](float v) { return std::isfinite(v); }));
  }
  cuda::GemvParams p;
  auto dx = upload(random_values(2 * 64, DType::kBF16, 35, 0.0f, 1.0f), DType::kBF16);
  auto dw = upload(random_values(16 * 64, DType::kBF16, 36, 0.0f, 1.0f), DType::kBF16);
  auto dy = poisoned(2 * 16);
  p.w = dw.get();
  p.out = 16;
  p.in = 64;
  p.x = dx.get();
  p.y = dy.get();
  p.blocks_per_sm = 4;
  p.batch = 2;
  gpu_test::expect_rejected([&] { cuda::gemv(p, nullptr); }, "blocks_per_sm: expected 0");
  p.batch = 1;
  p.blocks_per_sm = 3;
  gpu_test::expect_rejected([&] { cuda::gemv(p, nullptr); }, "blocks_per_sm: expected 0");
}

TEST(GemvTest, RejectsUnsupportedShapes) {
  EXPECT_FALSE(cuda::gemv_supported(9, 2048));
  EXPECT_FALSE(cuda::gemv_supported(1, 12));
  EXPECT_TRUE(cuda::gemv_supported(8, 2048));
}

// (dtype, batch, heads, kv_heads, head_dim, in)
class GemvRopeTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, int>> {};

// The fused QKV + RoPE + KV-write epilogue gives exactly what the plain product followed by the
// separate rope_qkv kernel gives (same sums, same roundings), for rows of different slots and
// positions, and leaves every other cache position alone.
TEST_P(GemvRopeTest, MatchesTheProductFollowedByRopeQkv) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, heads, kv_heads, hd, in] = GetParam();
  gpu_test::QkvRopeCase rope(dtype, batch, heads, kv_heads, hd);
  const int out = rope.out();
  const auto x = random_values(int64_t{batch} * in, dtype, 31, 0.0f, 2.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 32, 0.0f, 1.0f / std::sqrt(float(in)));
  const auto norm_w = random_values(in, dtype, 33, 1.0f, 0.3f);
  auto dx = upload(x, dtype), dw = upload(w, dtype), dn = upload(norm_w, dtype);

  // Reference: plain product, then rope_qkv.
  auto qkv = poisoned(int64_t{batch} * out);
  cuda::GemvParams p;
  p.dtype = dtype;
  p.w = dw.get();
  p.out = out;
  p.in = in;
  p.x = dx.get();
  p.batch = batch;
  p.norm_weight = dn.get();
  p.y = qkv.get();
  cuda::gemv(p, nullptr);
  rope.run_reference(qkv.get());

  cuda::GemvParams fused = p;
  fused.y = nullptr;
  fused.rope = rope.epilogue();
  cuda::gemv(fused, nullptr);
  rope.expect_same_bits();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, GemvRopeTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 1, 16, 4, 128, 2048),  // real decoder
                      std::make_tuple(DType::kBF16, 3, 16, 4, 128, 2048),
                      std::make_tuple(DType::kF16, 1, 28, 4, 128, 512),
                      std::make_tuple(DType::kBF16, 2, 2, 1, 12, 32),  // tiny: pairs span heads
                      std::make_tuple(DType::kF16, 8, 2, 1, 12, 16)));

TEST(GemvRopeTest, RejectsAnOutputWidthThatIsNotTheHeads) {
  cuda::GemvParams p;
  p.out = 100;
  p.in = 16;
  p.rope.heads = 2;
  p.rope.kv_heads = 1;
  p.rope.head_dim = 12;
  EXPECT_THROW(cuda::gemv(p, nullptr), Error);
}

}  // namespace
}  // namespace glmasr
