// The skinny-batch kernel's RoPE epilogue (the decoding step's QKV projection of 3..64 sequences):
// exactly what its plain product followed by rope_qkv gives, bf16 and fp8 weights, with and
// without a split of the input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "cuda/kernels/rope.h"
#include "cuda/kernels/skinny_gemm.h"
#include "testing/gpu.h"
#include "testing/qkv_rope_case.h"

namespace glmasr {
namespace {

using gpu_test::random_values;
using gpu_test::upload;

// (dtype, batch, heads, kv_heads, head_dim, in, fp8 weights, split)
class SkinnyGemmRopeTest
    : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, int, bool, int>> {};

// Rows of different slots and positions; every other cache position must stay as it was.
TEST_P(SkinnyGemmRopeTest, MatchesThePlainProductFollowedByRopeQkv) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, batch, heads, kv_heads, hd, in, fp8, split] = GetParam();
  gpu_test::QkvRopeCase rope(dtype, batch, heads, kv_heads, hd);
  const int out = rope.out();
  const auto x = random_values(int64_t{batch} * in, dtype, 61, 0.0f, 2.0f);
  const auto w = random_values(int64_t{out} * in, dtype, 62, 0.0f, 1.0f / std::sqrt(float(in)));
  gpu_test::Fp8Matrix quantized;
  cuda::DeviceBuffer dw;
  if (fp8)
    quantized = gpu_test::quantize_and_upload(w, out, in);
  else
    dw = upload(w, dtype);
  auto dx = upload(x, dtype);

  cuda::SkinnyGemmParams p;
  p.dtype = dtype;
  p.w = fp8 ? quantized.codes.get() : dw.get();
  p.w_scale = fp8 ? quantized.scales.as<float>() : nullptr;
  p.out = out;
  p.in = in;
  p.x = dx.get();
  p.batch = batch;
  p.split = split;
  cuda::SkinnyGemmParams fused = p;
  fused.rope = rope.epilogue();
  const size_t bytes = std::max(cuda::skinny_gemm_workspace_bytes(p, batch, split),
                                cuda::skinny_gemm_workspace_bytes(fused, batch, split));
  cuda::DeviceBuffer workspace(std::max<size_t>(bytes, 16));
  GLMASR_CUDA_CHECK(cudaMemset(workspace.get(), 0, workspace.bytes()));
  p.workspace = fused.workspace = workspace.get();
  p.workspace_bytes = fused.workspace_bytes = bytes;

  // Reference: the plain product, then rope_qkv.
  auto qkv = gpu_test::poisoned(int64_t{batch} * out);
  p.y = qkv.get();
  cuda::skinny_gemm(p, nullptr);
  rope.run_reference(qkv.get());

  cuda::skinny_gemm(fused, nullptr);
  rope.expect_same_bits();
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, SkinnyGemmRopeTest,
    ::testing::Values(
        // The real decoder (16 + 2 x 4 heads of 128, 2048 inputs), each batch instance.
        std::make_tuple(DType::kBF16, 3, 16, 4, 128, 2048, false, 0),
        std::make_tuple(DType::kBF16, 16, 16, 4, 128, 2048, false, 0),
        std::make_tuple(DType::kBF16, 33, 16, 4, 128, 2048, true, 0),
        std::make_tuple(DType::kBF16, 64, 16, 4, 128, 2048, false, 3),
        std::make_tuple(DType::kF16, 9, 16, 4, 128, 2048, true, 1),
        // Heads of 64 (one pair block a head), GQA 3:1, a few input steps, unsplit and split.
        std::make_tuple(DType::kBF16, 5, 3, 1, 64, 256, false, 1),
        std::make_tuple(DType::kF16, 12, 3, 1, 64, 256, true, 2),
        // The seed report's shape (28 + 2 x 4 heads of 128, 3584 inputs).
        std::make_tuple(DType::kF16, 8, 28, 4, 128, 3584, false, 0)));

TEST(SkinnyGemmRopeTest, RefusesHeadsItCannotPair) {
  EXPECT_TRUE(cuda::skinny_gemm_rope_supported(128));
  EXPECT_TRUE(cuda::skinny_gemm_rope_supported(64));
  EXPECT_FALSE(cuda::skinny_gemm_rope_supported(32));
  EXPECT_FALSE(cuda::skinny_gemm_rope_supported(96));
  cuda::SkinnyGemmParams p;
  p.batch = 4;
  p.in = 256;
  p.rope.heads = 2;
  p.rope.kv_heads = 1;
  p.rope.head_dim = 96;
  p.out = 4 * 96;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "head_dim a multiple of 64");
  p.rope.head_dim = 64;
  p.out = 100;
  gpu_test::expect_rejected([&] { cuda::skinny_gemm(p, nullptr); }, "(heads + 2 kv_heads)");
}

}  // namespace
}  // namespace glmasr
