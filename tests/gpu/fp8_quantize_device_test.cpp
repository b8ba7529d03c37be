// The engine quantizes bf16/fp16 checkpoints to fp8 on the device (quantize_fp8_rows_on_device);
// the CPU engine and every fp8 parity test rely on those codes being the host quantizer's
// (model/fp8_quantize.h): the same bits for every code and scale, over rows that reach the
// subnormal codes, the saturation at 448, signed zeros and an all-zero row; a checkpoint the
// host quantizes (float32) gives the device model the same codes as the same values in bf16;
// a non-finite weight is found and, through the engine's load, named.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "cuda/engine/cuda_engine.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/fp8_weights.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/weights.h"
#include "testing/fp8_projections.h"
#include "testing/gpu.h"
#include "unit/checkpoint_fixture.h"

namespace glmasr {
namespace {

// Rows of a [rows, cols] matrix, each with its own spread: ordinary weights, a row whose one
// large weight pushes the others into E4M3's subnormals (and below its smallest), an all-zero
// row, signed zeros among small values, and values that are ties between two codes.
std::vector<float> hard_rows(int64_t rows, int64_t cols, DType dtype, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    float* row = w.data() + r * cols;
    const float magnitude = std::ldexp(1.0f, static_cast<int>(r % 24) - 14);
    for (int64_t c = 0; c < cols; ++c) row[c] = magnitude * normal(rng);
    switch (r % 5) {
      case 1:  // one weight 2^16 times the rest: subnormal codes and zeros (within fp16)
        for (int64_t c = 0; c < cols; ++c) row[c] = 0.5f * normal(rng);
        row[cols / 2] = 32768.0f;
        break;
      case 2:
        std::fill(row, row + cols, 0.0f);
        break;
      case 3:
        for (int64_t c = 0; c < cols; c += 3) row[c] = c % 2 ? -0.0f : 0.0f;
        break;
      case 4:  // amax 448: every value an exact code or the midpoint of two
        row[0] = 448.0f;
        for (int64_t c = 1; c < cols; ++c) row[c] = (static_cast<float>(c % 64) + 0.5f) / 4.0f;
        break;
      default:
        break;
    }
    for (int64_t c = 0; c < cols; ++c) row[c] = gpu_test::round_to(dtype, row[c]);
  }
  return w;
}

TEST(Fp8QuantizeOnDeviceTest, GivesTheHostQuantizersBits) {
  GLMASR_SKIP_WITHOUT_GPU();
  for (DType dtype : {DType::kBF16, DType::kF16}) {
    for (const auto& [rows, cols] : {std::pair<int64_t, int64_t>{40, 2048}, {7, 300}, {3, 17}}) {
      SCOPED_TRACE(gpu_test::dtype_label(dtype) + " [" + std::to_string(rows) + ", " +
                   std::to_string(cols) + "]");
      const std::vector<float> w = hard_rows(rows, cols, dtype, 11);
      std::vector<uint8_t> expected_codes(w.size());
      std::vector<float> expected_scales(static_cast<size_t>(rows));
      quantize_fp8_rows(w.data(), rows, cols, expected_codes.data(), expected_scales.data());

      const cuda::DeviceBuffer dw = gpu_test::upload(w, dtype);
      cuda::DeviceBuffer codes(w.size()), scales(static_cast<size_t>(rows) * 4), first(8);
      GLMASR_CUDA_CHECK(cudaMemset(first.get(), 0xff, 8));
      cuda::quantize_fp8_rows_on_device(dtype, dw.get(), rows, cols, codes.get(),
                                        scales.as<float>(), first.as<unsigned long long>(),
                                        nullptr);
      std::vector<uint8_t> got_codes(w.size());
      std::vector<float> got_scales(static_cast<size_t>(rows));
      uint64_t got_first = 0;
      GLMASR_CUDA_CHECK(
          cudaMemcpy(got_codes.data(), codes.get(), got_codes.size(), cudaMemcpyDeviceToHost));
      GLMASR_CUDA_CHECK(cudaMemcpy(got_scales.data(), scales.get(), got_scales.size() * 4,
                                   cudaMemcpyDeviceToHost));
      GLMASR_CUDA_CHECK(cudaMemcpy(&got_first, first.get(), 8, cudaMemcpyDeviceToHost));
      EXPECT_EQ(got_first, ~uint64_t{0});
      int subnormal_codes = 0;
      for (int64_t r = 0; r < rows; ++r)
        ASSERT_EQ(std::memcmp(&got_scales[r], &expected_scales[r], 4), 0)
            << "row " << r << ": " << got_scales[r] << " vs " << expected_scales[r];
      for (size_t i = 0; i < w.size(); ++i) {
        ASSERT_EQ(int(got_codes[i]), int(expected_codes[i]))
            << "element " << i << " weight " << w[i] << " scale " << expected_scales[i / cols];
        const int code = expected_codes[i] & 0x7f;
        subnormal_codes += code > 0 && code < 8;
      }
      // The rows above reach what they are meant to.
      if (rows >= 5) EXPECT_GT(subnormal_codes, 0);
    }
  }
}

TEST(Fp8QuantizeOnDeviceTest, FindsTheFirstNonFiniteWeight) {
  GLMASR_SKIP_WITHOUT_GPU();
  const int64_t rows = 6, cols = 512;
  std::vector<float> w = hard_rows(rows, cols, DType::kBF16, 5);
  w[4 * cols + 9] = std::numeric_limits<float>::infinity();
  w[2 * cols + 100] = std::nanf("");
  w[5 * cols] = -std::numeric_limits<float>::infinity();
  const cuda::DeviceBuffer dw = gpu_test::upload(w, DType::kBF16);
  cuda::DeviceBuffer codes(w.size()), scales(rows * 4), first(8);
  GLMASR_CUDA_CHECK(cudaMemset(first.get(), 0xff, 8));
  cuda::quantize_fp8_rows_on_device(DType::kBF16, dw.get(), rows, cols, codes.get(),
                                    scales.as<float>(), first.as<unsigned long long>(), nullptr);
  uint64_t got = 0;
  GLMASR_CUDA_CHECK(cudaMemcpy(&got, first.get(), 8, cudaMemcpyDeviceToHost));
  EXPECT_EQ(got, uint64_t(2 * cols + 100));
}

std::unique_ptr<cuda::DeviceModel> fp8_model_of(const std::string& dir) {
  const ModelFolder folder{dir};
  const ModelConfig config =
      load_model_config(folder.config_path(), folder.generation_config_path());
  const Checkpoint checkpoint(dir);
  const ModelWeights weights = load_weights(checkpoint, config);
  return cuda::upload_model(config, weights, DType::kBF16, WeightFormat::kFP8, {});
}

std::vector<uint8_t> bytes_of(const void* device, size_t count) {
  std::vector<uint8_t> bytes(count);
  GLMASR_CUDA_CHECK(cudaMemcpy(bytes.data(), device, count, cudaMemcpyDeviceToHost));
  return bytes;
}

TEST(Fp8QuantizeOnDeviceTest, AFloat32CheckpointQuantizedOnTheHostGivesTheSameModel) {
  GLMASR_SKIP_WITHOUT_GPU();
  const std::string dir = testing::copy_tiny_folder("fp8-f32");
  std::vector<TensorToWrite> tensors = testing::read_all_tensors(dir + "/model.safetensors");
  for (TensorToWrite& tensor : tensors)
    if (tensor.dtype == DType::kBF16) testing::convert_bf16_to_f32(tensor);
  write_safetensors(dir + "/model.safetensors", tensors);
  nlohmann::json config = testing::tiny_config_json();
  config["dtype"] = "float32";
  testing::write_json(dir + "/config.json", config);
  const auto on_device = fp8_model_of(testing::tiny_dir());
  const auto on_host = fp8_model_of(dir);
  const std::vector<gpu_test::Fp8Projection> a = gpu_test::fp8_projections(*on_device),
                                             b = gpu_test::fp8_projections(*on_host);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    SCOPED_TRACE(cat(i, " ", a[i].name));
    const size_t count = size_t(a[i].rows * a[i].cols);
    EXPECT_EQ(bytes_of(a[i].codes, count), bytes_of(b[i].codes, count));
    EXPECT_EQ(bytes_of(a[i].scales, size_t(a[i].rows) * 4),
              bytes_of(b[i].scales, size_t(b[i].rows) * 4));
    EXPECT_EQ(bytes_of(a[i].dequantized, count * 2), bytes_of(b[i].dequantized, count * 2));
  }
}

TEST(Fp8QuantizeOnDeviceTest, TheEngineNamesANonFiniteCheckpointWeight) {
  GLMASR_SKIP_WITHOUT_GPU();
  const std::string dir = testing::copy_tiny_folder("fp8-nonfinite");
  std::vector<TensorToWrite> tensors = testing::read_all_tensors(dir + "/model.safetensors");
  TensorToWrite& up =
      testing::find_tensor(tensors, "language_model.model.layers.1.mlp.up_proj.weight");
  ASSERT_EQ(up.dtype, DType::kBF16);
  const int64_t cols = up.shape.at(1);
  const uint16_t nan_bits = 0x7fc0;
  std::memcpy(up.bytes.data() + 2 * (3 * cols + 5), &nan_bits, 2);
  write_safetensors(dir + "/model.safetensors", tensors);
  EngineOptions options;
  options.device = "cuda";
  options.weights = WeightFormat::kFP8;
  options.max_batch = 1;
  options.max_sequence = 256;
  gpu_test::expect_rejected([&] { make_cuda_engine(dir, options); },
                            "gate|up_proj: fp8 quantization: expected finite weights, row 3 holds "
                            "nan at column 5");
  // In bf16 nothing is quantized: the same checkpoint loads.
  options.weights = WeightFormat::kBF16;
  EXPECT_NE(make_cuda_engine(dir, options), nullptr);
}

}  // namespace
}  // namespace glmasr
