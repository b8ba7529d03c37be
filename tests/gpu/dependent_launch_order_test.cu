// RMSNorm, SwiGLU and RoPE are dependent launches (the projection or attention after them may
// start loading its weights early). Each must still read its input only after the kernel that
// writes it is done. These tests put a producer kernel in front that lets the next grid start at
// once and writes the input only after a delay; the stale input it overwrites differs from the
// fresh one, so a kernel that read before its wait would be far from the reference.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cpu/ops.h"
#include "cuda/check.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/rms_norm.h"
#include "cuda/kernels/rope.h"
#include "cuda/kernels/swiglu.h"
#include "testing/gpu.h"
#include "testing/spin.cuh"

namespace glmasr::cuda {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

constexpr uint64_t kDelayNs = 1000000;  // 1 ms: far longer than a dependent grid's start

// Copies `count` 16-bit elements of `fresh` over `target`, kDelayNs after it may start.
__global__ void overwrite_late(const uint16_t* fresh, uint16_t* target, int64_t count) {
  allow_next_kernel();
  wait_for_previous_kernel();
  gpu_test::spin_for(kDelayNs);
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) target[i] = fresh[i];
}

// Runs launch(input, stream) behind overwrite_late(fresh -> input), the input starting as
// `stale`, and returns the input. launch runs once before, on a copy of the stale input: CUDA
// loads a kernel at its first launch, and that load waits for the work in flight (the producer),
// which would hide an early read.
template <typename Launch>
DeviceBuffer run_behind_late_producer(const std::vector<float>& stale,
                                      const std::vector<float>& fresh, DType dtype,
                                      Launch&& launch) {
  cudaStream_t stream;
  GLMASR_CUDA_CHECK(cudaStreamCreate(&stream));
  DeviceBuffer warm_up = upload(stale, dtype);
  launch(warm_up.get(), stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  DeviceBuffer input = upload(stale, dtype), source = upload(fresh, dtype);
  launch_dependent(overwrite_late, {dim3(1), 256, stream}, source.as<uint16_t>(),
                   input.as<uint16_t>(), static_cast<int64_t>(fresh.size()));
  launch(input.get(), stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  GLMASR_CUDA_CHECK(cudaStreamDestroy(stream));
  return input;
}

// Reads `source` without waiting for the kernel ahead: what the tests' kernels would do without
// their wait.
__global__ void copy_without_waiting(const uint16_t* source, uint16_t* target, int64_t count) {
  allow_next_kernel();
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) target[i] = source[i];
}

// The control: behind the producer, a dependent kernel that does not wait sees the stale input,
// so the tests below would fail for a kernel that read before its wait.
TEST(DependentLaunchOrderControl, AKernelThatDoesNotWaitSeesTheStaleInput) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = DType::kBF16;
  const auto fresh = random_values(4096, dtype, 88, 0.0f, 1.0f);
  const auto stale = random_values(fresh.size(), dtype, 89, 10.0f, 1.0f);
  auto copy = poisoned(fresh.size());
  const DeviceBuffer input =
      run_behind_late_producer(stale, fresh, dtype, [&](void* x, cudaStream_t stream) {
        launch_dependent(copy_without_waiting, {dim3(1), 256, stream},
                         static_cast<const uint16_t*>(x), copy.as<uint16_t>(),
                         static_cast<int64_t>(fresh.size()));
      });
  EXPECT_EQ(download(copy.get(), fresh.size(), dtype), stale);
  EXPECT_EQ(download(input.get(), fresh.size(), dtype), fresh);
}

class DependentLaunchOrder : public ::testing::TestWithParam<DType> {};

TEST_P(DependentLaunchOrder, RmsNormReadsItsInputAfterTheProducer) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = GetParam();
  const int rows = 8, dim = 2048;
  const auto fresh = random_values(int64_t{rows} * dim, dtype, 81, 0.0f, 3.0f);
  const auto stale = random_values(fresh.size(), dtype, 82, 5.0f, 3.0f);
  const auto w = random_values(dim, dtype, 83, 1.0f, 0.5f);
  std::vector<float> expected(fresh.size());
  cpu::rms_norm(fresh.data(), rows, dim, w.data(), 1e-5f, expected.data());
  auto dw = upload(w, dtype);
  auto dy = poisoned(fresh.size());
  run_behind_late_producer(stale, fresh, dtype, [&](void* x, cudaStream_t stream) {
    rms_norm(dtype, x, rows, dim, dw.get(), 1e-5f, dy.get(), stream);
  });
  EXPECT_LT(relative_error(download(dy.get(), fresh.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

TEST_P(DependentLaunchOrder, SwigluReadsItsInputAfterTheProducer) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = GetParam();
  const int rows = 8, width = 6144;
  const auto fresh = random_values(int64_t{rows} * 2 * width, dtype, 84, 0.0f, 4.0f);
  const auto stale = random_values(fresh.size(), dtype, 85, 8.0f, 4.0f);
  std::vector<float> expected(size_t(rows) * width);
  for (int r = 0; r < rows; ++r)
    cpu::silu_mul(fresh.data() + size_t(r) * 2 * width,
                  fresh.data() + size_t(r) * 2 * width + width, width,
                  expected.data() + size_t(r) * width);
  auto dy = poisoned(expected.size());
  run_behind_late_producer(stale, fresh, dtype, [&](void* gate_up, cudaStream_t stream) {
    swiglu(dtype, gate_up, rows, width, dy.get(), stream);
  });
  EXPECT_LT(relative_error(download(dy.get(), expected.size(), dtype), expected),
            gpu_test::tolerance(dtype));
}

// Both RoPE kernels: the decoding step's (per-row positions, the K/V cache written) and the
// encoder's in-place one.
TEST_P(DependentLaunchOrder, RopeReadsQkvAfterTheProducer) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = GetParam();
  for (const bool step : {true, false}) {
    SCOPED_TRACE(step ? "decoding step" : "in place");
    const int heads = 16, kv_heads = 4, hd = step ? 128 : 64, rows = 6, max_seq = 64;
    const int width = (heads + 2 * kv_heads) * hd;
    const auto fresh = random_values(int64_t{rows} * width, dtype, 86, 0.0f, 2.0f);
    const auto stale = random_values(fresh.size(), dtype, 87, 6.0f, 2.0f);
    const std::vector<int32_t> positions = {0, 5, 17, 33, 40, 63};
    std::vector<float> expected = fresh;  // q and k rotated in place, as the in-place kernel
    for (int r = 0; r < rows; ++r)
      cpu::rope(expected.data() + size_t(r) * width, 1, heads + kv_heads, hd, hd, 10000.0f,
                step ? positions[r] : r);
    RopeTable table = make_rope_table(dtype, max_seq, hd, 10000.0f);
    const int64_t cache_count = int64_t{rows} * kv_heads * max_seq * hd;
    auto k_cache = poisoned(cache_count), v_cache = poisoned(cache_count);
    DeviceBuffer dpos(rows * 4), dslots(rows * 4);
    std::vector<int32_t> slots(rows);
    for (int r = 0; r < rows; ++r) slots[r] = r;
    GLMASR_CUDA_CHECK(cudaMemcpy(dpos.get(), positions.data(), rows * 4, cudaMemcpyHostToDevice));
    GLMASR_CUDA_CHECK(cudaMemcpy(dslots.get(), slots.data(), rows * 4, cudaMemcpyHostToDevice));
    const DeviceBuffer qkv =
        run_behind_late_producer(stale, fresh, dtype, [&](void* x, cudaStream_t stream) {
          RopeQkvParams p =
              step ? gpu_test::rope_qkv_params(dtype, x, rows, heads, kv_heads, hd, table,
                                               k_cache.get(), v_cache.get(), max_seq)
                   : rope_qkv_params(dtype, x, rows, heads, kv_heads, hd, table);
          if (step) {
            p.positions = dpos.as<int32_t>();
            p.slots = dslots.as<int32_t>();
          }
          rope_qkv(p, stream);
        });
    const auto got = download(qkv.get(), fresh.size(), dtype);
    // q (and, in place, k) are rotated in the qkv rows; the step's k goes to the cache.
    std::vector<float> got_q, expected_q;
    for (int r = 0; r < rows; ++r) {
      const size_t row = size_t(r) * width, rotated = size_t(step ? heads : heads + kv_heads) * hd;
      got_q.insert(got_q.end(), got.begin() + row, got.begin() + row + rotated);
      expected_q.insert(expected_q.end(), expected.begin() + row, expected.begin() + row + rotated);
    }
    EXPECT_LT(relative_error(got_q, expected_q), gpu_test::tolerance(dtype));
    if (step) {
      const auto got_k_cache = download(k_cache.get(), cache_count, dtype);
      std::vector<float> got_k, expected_k;
      for (int r = 0; r < rows; ++r)
        for (int h = 0; h < kv_heads; ++h) {
          const size_t at = ((size_t(r) * kv_heads + h) * max_seq + positions[r]) * hd;
          got_k.insert(got_k.end(), got_k_cache.begin() + at, got_k_cache.begin() + at + hd);
          const size_t from = size_t(r) * width + size_t(heads + h) * hd;
          expected_k.insert(expected_k.end(), expected.begin() + from,
                            expected.begin() + from + hd);
        }
      EXPECT_LT(relative_error(got_k, expected_k), gpu_test::tolerance(dtype));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DependentLaunchOrder, ::testing::Values(DType::kBF16, DType::kF16),
                         [](const auto& info) { return gpu_test::dtype_label(info.param); });

}  // namespace
}  // namespace glmasr::cuda
