// FP8 weights on the device (cuda/engine/device_model.h): each projection's copy dequantized once
// at load for cuBLASLt holds exactly round(e4m3(code) * scale) in the element type, beside the
// codes it came from; and a step whose projections all take cuBLASLt (more sequences than the
// skinny kernel takes) gives each sequence the logits of its batch-1 step, which reads the
// codes themselves in the matrix-vector kernel.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/gemm.h"
#include "testing/fp8_projections.h"
#include "testing/gpu.h"
#include "testing/small_decoder.h"

namespace glmasr {
namespace {

constexpr gpu_test::DecoderShape kShape{"narrow", 256, 1024, 2, 4, 2, 64, 3000, DType::kBF16};

using gpu_test::fp8_projections;
using gpu_test::Fp8Projection;

TEST(DeviceModelFp8Test, DequantizedCopiesHoldEveryCodeTimesItsScale) {
  GLMASR_SKIP_WITHOUT_GPU();
  const ModelConfig config = gpu_test::config_of(kShape);
  const auto model = cuda::random_model(config, kShape.dtype, 31, WeightFormat::kFP8);
  for (const Fp8Projection& p : fp8_projections(*model)) {
    SCOPED_TRACE(p.name);
    ASSERT_NE(p.scales, nullptr);
    ASSERT_NE(p.dequantized, nullptr);
    std::vector<uint8_t> codes(size_t(p.rows * p.cols));
    std::vector<float> scales(size_t(p.rows));
    GLMASR_CUDA_CHECK(cudaMemcpy(codes.data(), p.codes, codes.size(), cudaMemcpyDeviceToHost));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(scales.data(), p.scales, scales.size() * 4, cudaMemcpyDeviceToHost));
    const std::vector<float> got = gpu_test::download(p.dequantized, p.rows * p.cols, kShape.dtype);
    for (int64_t i = 0; i < p.rows * p.cols; ++i)
      ASSERT_EQ(got[i],
                gpu_test::round_to(kShape.dtype, e4m3_to_float(codes[i]) * scales[i / p.cols]))
          << "element " << i;
  }
  // In the element type there is nothing to dequantize.
  const auto bf16 = cuda::random_model(config, kShape.dtype, 31);
  EXPECT_EQ(bf16->dequantized_arena.bytes(), 0u);
  for (const Fp8Projection& p : fp8_projections(*bf16)) EXPECT_EQ(p.dequantized, nullptr) << p.name;
  EXPECT_EQ(bf16->decoder_gemm_bytes, bf16->decoder_bytes);
}

TEST(DeviceModelFp8Test, AStepOnCublasLtGivesEachSequenceItsBatchOneLogits) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto model =
      cuda::random_model(gpu_test::config_of(kShape), kShape.dtype, 57, WeightFormat::kFP8);
  constexpr int kBatch = 72;  // beyond the skinny kernel: every projection on cuBLASLt
  cudaStream_t stream = nullptr;
  GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  {
    cuda::Gemm gemm(kShape.dtype);
    cuda::DecoderRunner decoder(*model, gemm, kBatch, 256, 256, stream);
    // The bytes a step reads: the codes at batch 1, the dequantized copies once on cuBLASLt.
    EXPECT_EQ(decoder.step_weight_bytes(1), model->decoder_bytes);
    EXPECT_EQ(decoder.step_weight_bytes(kBatch), model->decoder_gemm_bytes);
    EXPECT_GT(model->decoder_gemm_bytes, model->decoder_bytes);

    std::vector<cuda::SequenceStep> steps;
    for (int s = 0; s < kBatch; ++s) {
      std::vector<int32_t> prompt = gpu_test::prompt_of(9 + s % 13, kShape.vocab);
      prompt.front() = s;  // every sequence its own
      const int32_t token = decoder.prefill(s, prompt, nullptr, 0).token;
      steps.push_back({.slot = s, .token = token, .position = int(prompt.size())});
    }
    decoder.step(steps);
    std::vector<std::vector<float>> batched;
    for (int s = 0; s < kBatch; ++s) batched.push_back(decoder.logits(s));
    // The same step alone (it rewrites the same cache entry) through the codes.
    for (int s : {0, 1, 40, kBatch - 1}) {
      SCOPED_TRACE(s);
      decoder.step({steps[s]});
      // The matrix-vector kernel multiplies code * scale in float32, cuBLASLt its rounding to
      // bf16: one more rounding of the weights.
      EXPECT_LE(gpu_test::relative_error(batched[s], decoder.logits(0)),
                gpu_test::tolerance(kShape.dtype));
    }
    // A sequence's logits are its own: two sequences' differ far beyond that.
    EXPECT_GT(gpu_test::relative_error(batched[0], batched[1]), 0.1);
  }
  GLMASR_CUDA_CHECK(cudaStreamDestroy(stream));
}

}  // namespace
}  // namespace glmasr
