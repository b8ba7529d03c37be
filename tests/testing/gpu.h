// For tests labelled gpu: skip with a message when no CUDA device exists (CI has none), and the
// helpers of the GPU parity tests: random inputs already rounded to the element type (so the
// CPU reference sees exactly what the GPU sees), uploads and downloads in bf16/fp16, and the
// tolerance per element type.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/device_buffer.h"
#include "cuda/host_transfer.h"
#include "cuda/kernels/rope.h"
#include "model/fp8_quantize.h"

#define GLMASR_SKIP_WITHOUT_GPU()                                         \
  do {                                                                    \
    if (!::glmasr::cuda::device_available())                              \
      GTEST_SKIP() << "no CUDA device on this machine: GPU test skipped"; \
  } while (0)

namespace glmasr::gpu_test {

inline float round_to(DType dtype, float v) {
  return dtype == DType::kBF16 ? round_to_bf16(v) : fp16_to_float(float_to_fp16(v));
}

inline std::vector<float> random_values(int64_t count, DType dtype, uint32_t seed,
                                        float center = 0.0f, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  std::vector<float> values(static_cast<size_t>(count));
  for (float& v : values) v = round_to(dtype, center + scale * uniform(rng));
  return values;
}

inline cuda::DeviceBuffer upload(const std::vector<float>& values, DType dtype) {
  return cuda::upload_floats(values, dtype);
}

// An output buffer filled with NaN bit patterns, so unwritten elements fail the comparison.
inline cuda::DeviceBuffer poisoned(int64_t count) {
  cuda::DeviceBuffer buffer(std::max<size_t>(static_cast<size_t>(count) * 2, 16));
  GLMASR_CUDA_CHECK(cudaMemset(buffer.get(), 0xff, buffer.bytes()));
  return buffer;
}

inline std::vector<float> download(const void* device, int64_t count, DType dtype) {
  return cuda::download_floats(device, count, dtype);
}

// ||a - b|| / ||b||; NaN anywhere gives infinity.
inline double relative_error(const std::vector<float>& actual, const std::vector<float>& expected) {
  EXPECT_EQ(actual.size(), expected.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < actual.size() && i < expected.size(); ++i) {
    if (!std::isfinite(actual[i])) return INFINITY;
    diff += (double(actual[i]) - expected[i]) * (double(actual[i]) - expected[i]);
    norm += double(expected[i]) * expected[i];
  }
  return norm == 0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

// Relative (L2) error bound for outputs rounded to the element type, a few roundings deep.
// One rounding to nearest leaves an RMS relative error of u/sqrt(3): 2.3e-3 in bf16 (u = 2^-8),
// 2.8e-4 in fp16 (u = 2^-11). bf16 allows about 4 roundings; fp16 allows about 7 and stays
// below a single bf16 rounding, so an fp16 path that rounds through bf16 anywhere fails. 1e-3
// was measured too tight on the H200: the matrix-vector kernel's fp16 outputs on short rows
// (in 16..2048, out 80) reach 1.09e-3 against the float64-accumulated host reference.
inline double tolerance(DType dtype) {
  return dtype == DType::kBF16 ? 1e-2 : 2e-3;
}

inline std::string dtype_label(DType dtype) {
  return dtype == DType::kBF16 ? "bf16" : "fp16";
}

// RoPE over `rows` fused q|k|v rows with the k/v rows written into the caches (max_seq
// positions per slot); where the positions, slots and rotated q go is the caller's.
inline cuda::RopeQkvParams rope_qkv_params(DType dtype, void* qkv, int64_t rows, int heads,
                                           int kv_heads, int head_dim, const cuda::RopeTable& table,
                                           void* k_cache, void* v_cache, int max_seq) {
  cuda::RopeQkvParams p = cuda::rope_qkv_params(dtype, qkv, rows, heads, kv_heads, head_dim, table);
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.max_seq = max_seq;
  return p;
}

// Codes and scales of a [rows, cols] matrix on the device, and the float32 weights they mean.
struct Fp8Matrix {
  cuda::DeviceBuffer codes, scales;
  std::vector<float> dequantized;
};

inline Fp8Matrix quantize_and_upload(const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<uint8_t> codes(w.size());
  std::vector<float> scales(static_cast<size_t>(rows));
  quantize_fp8_rows(w.data(), rows, cols, codes.data(), scales.data());
  Fp8Matrix m{cuda::DeviceBuffer(codes.size()), cuda::DeviceBuffer(scales.size() * 4), {}};
  GLMASR_CUDA_CHECK(cudaMemcpy(m.codes.get(), codes.data(), codes.size(), cudaMemcpyHostToDevice));
  GLMASR_CUDA_CHECK(
      cudaMemcpy(m.scales.get(), scales.data(), scales.size() * 4, cudaMemcpyHostToDevice));
  m.dequantized = w;
  fp8_round_trip_rows(m.dequantized.data(), rows, cols);
  return m;
}

// Expects `call` to throw glmasr::Error with `fragment` in its message.
inline void expect_rejected(const std::function<void()>& call, const std::string& fragment) {
  try {
    call();
    ADD_FAILURE() << "expected glmasr::Error mentioning " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

}  // namespace glmasr::gpu_test
