// decode_attention reads the cache before it waits for the kernel ahead of it (a programmatic
// dependent launch). These tests put a producer kernel in that place, as the QKV projection is
// in a decoding step: it lets the attention grid start at once, then holds back for a while
// before it writes q and the newest K/V row. Stale copies of those (planted so that reading them
// would swamp the softmax) must never reach the output.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "core/error.h"
#include "cpu/ops.h"
#include "cuda/check.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "testing/gpu.h"
#include "testing/spin.cuh"

namespace glmasr::cuda {
namespace {

using gpu_test::download;
using gpu_test::random_values;
using gpu_test::upload;

// Copies `fresh` rows over q and the newest cache rows, `delay_ns` after it may start: long
// enough for a dependent grid that did not wait to read the stale values.
__global__ void write_newest_late(const uint16_t* fresh_q, uint16_t* q, int q_elems,
                                  const uint16_t* fresh_k, const uint16_t* fresh_v,
                                  uint16_t* k_cache, uint16_t* v_cache, int kv_heads, int max_seq,
                                  int head_dim, int slot, int position, uint64_t delay_ns) {
  allow_next_kernel();
  wait_for_previous_kernel();
  gpu_test::spin_for(delay_ns);
  for (int i = threadIdx.x; i < q_elems; i += blockDim.x) q[i] = fresh_q[i];
  for (int i = threadIdx.x; i < kv_heads * head_dim; i += blockDim.x) {
    const int h = i / head_dim, d = i % head_dim;
    const int64_t at = ((int64_t{slot} * kv_heads + h) * max_seq + position) * head_dim + d;
    k_cache[at] = fresh_k[i];
    v_cache[at] = fresh_v[i];
  }
}

struct OrderCase {
  int length, max_seq;
  DType dtype;
  int shared_carveout = -1;  // as the decoding step launches it (it asks for 28)
};

std::string order_name(const ::testing::TestParamInfo<OrderCase>& info) {
  return "len" + std::to_string(info.param.length) + "_of" + std::to_string(info.param.max_seq) +
         "_" + gpu_test::dtype_label(info.param.dtype) +
         (info.param.shared_carveout < 0
              ? ""
              : "_carveout" + std::to_string(info.param.shared_carveout));
}

class DecodeAttentionOrder : public ::testing::TestWithParam<OrderCase> {};

TEST_P(DecodeAttentionOrder, NewestRowAndQueryAreReadAfterTheProducer) {
  GLMASR_SKIP_WITHOUT_GPU();
  const OrderCase c = GetParam();
  const DType dtype = c.dtype;
  constexpr int kHeads = 16, kKvHeads = 4, kHeadDim = 128, kSlots = 2, kSlot = 1;
  const int newest = c.length - 1;
  const int64_t cache_elems = int64_t{kSlots} * kKvHeads * c.max_seq * kHeadDim;
  std::vector<float> k = random_values(cache_elems, dtype, 11);
  std::vector<float> v = random_values(cache_elems, dtype, 12);
  const std::vector<float> q = random_values(kHeads * kHeadDim, dtype, 13, 0.0f, 1.5f);
  const std::vector<float> fresh_k = random_values(kKvHeads * kHeadDim, dtype, 14);
  const std::vector<float> fresh_v = random_values(kKvHeads * kHeadDim, dtype, 15);
  auto at = [&](int h, int t, int d) {
    return ((int64_t{kSlot} * kKvHeads + h) * c.max_seq + t) * kHeadDim + d;
  };
  // Stale newest rows: a key of 20s dominates every score, a value of -30 shows in the output.
  for (int h = 0; h < kKvHeads; ++h)
    for (int d = 0; d < kHeadDim; ++d) {
      k[at(h, newest, d)] = 20.0f;
      v[at(h, newest, d)] = -30.0f;
    }
  DeviceBuffer k_mem = upload(k, dtype), v_mem = upload(v, dtype);
  DeviceBuffer q_mem = upload(std::vector<float>(q.size(), 0.0f), dtype);  // stale q: zeros
  DeviceBuffer fresh_q_mem = upload(q, dtype), fresh_k_mem = upload(fresh_k, dtype),
               fresh_v_mem = upload(fresh_v, dtype);
  DeviceBuffer out_mem = gpu_test::poisoned(kHeads * kHeadDim);
  const std::vector<int> slot = {kSlot}, length = {c.length};
  DeviceBuffer slot_mem(sizeof(int)), len_mem(sizeof(int)), workspace(256);
  GLMASR_CUDA_CHECK(cudaMemcpy(slot_mem.get(), slot.data(), sizeof(int), cudaMemcpyHostToDevice));
  GLMASR_CUDA_CHECK(cudaMemcpy(len_mem.get(), length.data(), sizeof(int), cudaMemcpyHostToDevice));

  DecodeAttentionParams p{};
  p.q = q_mem.get();
  p.k_cache = k_mem.get();
  p.v_cache = v_mem.get();
  p.slot_of_seq = slot_mem.as<int>();
  p.seq_len = len_mem.as<int>();
  p.out = out_mem.get();
  p.workspace = workspace.as<float>();
  p.batch = 1;
  p.heads = kHeads;
  p.kv_heads = kKvHeads;
  p.head_dim = kHeadDim;
  p.max_seq = c.max_seq;
  p.scale = 1.0f / std::sqrt(float(kHeadDim));
  p.dtype = dtype;
  p.shared_carveout = c.shared_carveout;

  cudaStream_t stream;
  GLMASR_CUDA_CHECK(cudaStreamCreate(&stream));
  // CUDA loads a kernel at its first launch, and the load waits for the work in flight: without
  // a first run the attention would start only after the producer, and the test could not fail
  // (DependentLaunchOrderControl shows the difference).
  decode_attention(p, stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  launch_dependent(write_newest_late, {dim3(1), 256, stream}, fresh_q_mem.as<uint16_t>(),
                   q_mem.as<uint16_t>(), kHeads * kHeadDim, fresh_k_mem.as<uint16_t>(),
                   fresh_v_mem.as<uint16_t>(), k_mem.as<uint16_t>(), v_mem.as<uint16_t>(), kKvHeads,
                   c.max_seq, kHeadDim, kSlot, newest, uint64_t{200000});
  decode_attention(p, stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  GLMASR_CUDA_CHECK(cudaStreamDestroy(stream));
  const std::vector<float> out = download(out_mem.get(), kHeads * kHeadDim, dtype);

  // Reference with the fresh rows: the slot's keys gathered to [length, kv_heads, head_dim].
  std::vector<float> keys, values;
  for (int t = 0; t < c.length; ++t)
    for (int h = 0; h < kKvHeads; ++h)
      for (int d = 0; d < kHeadDim; ++d) {
        const bool fresh = t == newest;
        keys.push_back(fresh ? fresh_k[h * kHeadDim + d] : k[at(h, t, d)]);
        values.push_back(fresh ? fresh_v[h * kHeadDim + d] : v[at(h, t, d)]);
      }
  std::vector<float> expected(out.size());
  cpu::attention(q.data(), 1, kHeads, keys.data(), values.data(), c.length, kKvHeads, kHeadDim,
                 p.scale, false, expected.data());
  EXPECT_LE(gpu_test::relative_error(out, expected), gpu_test::tolerance(dtype));
}

// Lengths put the newest key in the first tile a block loads before waiting (37, 400) or in a
// later one (1000 keys over 8 blocks); 1 is the first step.
INSTANTIATE_TEST_SUITE_P(
    Lengths, DecodeAttentionOrder,
    ::testing::Values(OrderCase{1, 512, DType::kBF16}, OrderCase{37, 512, DType::kBF16},
                      OrderCase{400, 512, DType::kBF16}, OrderCase{1000, 1024, DType::kBF16},
                      OrderCase{400, 512, DType::kF16}, OrderCase{1000, 1024, DType::kF16},
                      OrderCase{400, 512, DType::kBF16, 28},
                      OrderCase{1000, 1024, DType::kF16, 28}),
    order_name);

}  // namespace
}  // namespace glmasr::cuda
