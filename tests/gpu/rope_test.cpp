// RoPE + KV-cache write (the QKV epilogue) against cpu::rope, and the cos/sin table rounding.
#include "cuda/kernels/rope.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

#include "cpu/ops.h"
#include "testing/gpu.h"

namespace glmasr {
namespace {

using gpu_test::download;
using gpu_test::poisoned;
using gpu_test::random_values;
using gpu_test::relative_error;
using gpu_test::upload;

TEST(RopeTableTest, RoundsFloat32AnglesToTheElementType) {
  std::vector<float> c(4 * 8), s(4 * 8);
  cuda::rope_table_host(4, 16, 10000.0f, DType::kBF16, c.data(), s.data());
  const float inv_freq = 1.0f / std::pow(10000.0f, 2.0f / 16.0f);  // d = 1
  EXPECT_EQ(c[3 * 8 + 1], round_to_bf16(std::cos(3.0f * inv_freq)));
  EXPECT_EQ(s[3 * 8 + 1], round_to_bf16(std::sin(3.0f * inv_freq)));
  EXPECT_EQ(c[0], 1.0f);
  EXPECT_EQ(s[0], 0.0f);
}

// (dtype, heads, kv_heads, head_dim, rotary_dim, rows)
class RopeTest : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, int>> {};

TEST_P(RopeTest, RotatesQAndKAndWritesTheCache) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, heads, kv_heads, hd, rotary, rows] = GetParam();
  const int width = (heads + 2 * kv_heads) * hd;
  const int first_position = 5, max_seq = rows + first_position + 3, slots = 3, slot = 2;
  const auto qkv = random_values(int64_t{rows} * width, dtype, 61, 0.0f, 2.0f);
  // Reference: q and k rotated by cpu::rope at positions first_position + r.
  std::vector<float> q(size_t(rows) * heads * hd), k(size_t(rows) * kv_heads * hd),
      v(size_t(rows) * kv_heads * hd);
  for (int r = 0; r < rows; ++r) {
    const float* row = qkv.data() + size_t(r) * width;
    std::copy(row, row + heads * hd, q.data() + size_t(r) * heads * hd);
    std::copy(row + heads * hd, row + (heads + kv_heads) * hd,
              k.data() + size_t(r) * kv_heads * hd);
    std::copy(row + (heads + kv_heads) * hd, row + width, v.data() + size_t(r) * kv_heads * hd);
  }
  cpu::rope(q.data(), rows, heads, hd, rotary, 10000.0f, first_position);
  cpu::rope(k.data(), rows, kv_heads, hd, rotary, 10000.0f, first_position);

  cuda::RopeTable table = cuda::make_rope_table(dtype, max_seq, rotary, 10000.0f);
  auto dqkv = upload(qkv, dtype);
  const int64_t cache_count = int64_t{slots} * kv_heads * max_seq * hd;
  auto k_cache = poisoned(cache_count), v_cache = poisoned(cache_count);
  auto q_out = poisoned(q.size());
  cuda::RopeQkvParams p = gpu_test::rope_qkv_params(dtype, dqkv.get(), rows, heads, kv_heads, hd,
                                                    table, k_cache.get(), v_cache.get(), max_seq);
  p.first_position = first_position;
  p.q_out = q_out.get();
  p.slot = slot;
  cuda::rope_qkv(p, nullptr);

  const auto got_q = download(q_out.get(), q.size(), dtype);
  const auto got_qkv = download(dqkv.get(), qkv.size(), dtype);
  const auto got_k_cache = download(k_cache.get(), cache_count, dtype);
  const auto got_v_cache = download(v_cache.get(), cache_count, dtype);
  std::vector<float> got_k, got_v, k_from_cache, v_from_cache;
  for (int r = 0; r < rows; ++r) {
    const float* row = got_qkv.data() + size_t(r) * width;
    got_k.insert(got_k.end(), row + heads * hd, row + (heads + kv_heads) * hd);
    for (int h = 0; h < kv_heads; ++h) {
      const size_t at = ((size_t(slot) * kv_heads + h) * max_seq + first_position + r) * hd;
      k_from_cache.insert(k_from_cache.end(), got_k_cache.begin() + at,
                          got_k_cache.begin() + at + hd);
      v_from_cache.insert(v_from_cache.end(), got_v_cache.begin() + at,
                          got_v_cache.begin() + at + hd);
    }
  }
  EXPECT_LT(relative_error(got_q, q), gpu_test::tolerance(dtype));
  EXPECT_LT(relative_error(got_k, k), gpu_test::tolerance(dtype));
  EXPECT_EQ(k_from_cache, got_k);  // the cache holds exactly the rotated keys
  EXPECT_EQ(v_from_cache, v);      // and the values untouched
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RopeTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 2, 1, 12, 12, 9),  // tiny decoder
                      std::make_tuple(DType::kF16, 2, 1, 12, 12, 9),
                      std::make_tuple(DType::kBF16, 2, 2, 16, 8, 20),      // tiny encoder, partial
                      std::make_tuple(DType::kBF16, 16, 4, 128, 128, 33),  // real decoder
                      std::make_tuple(DType::kF16, 16, 4, 128, 128, 4),
                      std::make_tuple(DType::kBF16, 20, 20, 64, 32, 17),   // real encoder, partial
                      std::make_tuple(DType::kF16, 28, 4, 128, 128, 2)));  // seed shape

// In place, positions restarting every `period` rows, no cache (the encoder's windows): q and k
// heads rotated as cpu::rope does, v and the non-rotary dims untouched. Rotary dims that are a
// multiple of 16 take the 16-byte kernel, the others (8) the generic one.
class RopeInPlaceTest
    : public ::testing::TestWithParam<std::tuple<DType, int, int, int, int, int, int>> {};

TEST_P(RopeInPlaceTest, RotatesQAndKPerWindowAndLeavesTheRestAlone) {
  GLMASR_SKIP_WITHOUT_GPU();
  const auto [dtype, heads, kv_heads, hd, rotary, rows, period] = GetParam();
  const int width = (heads + 2 * kv_heads) * hd;
  const auto qkv = random_values(int64_t{rows} * width, dtype, 67, 0.0f, 2.0f);
  std::vector<float> expected = qkv;
  for (int r = 0; r < rows; ++r) {
    float* row = expected.data() + size_t(r) * width;
    cpu::rope(row, 1, heads + kv_heads, hd, rotary, 10000.0f, r % period);  // q and k heads
  }
  cuda::RopeTable table = cuda::make_rope_table(dtype, period, rotary, 10000.0f);
  auto dqkv = upload(qkv, dtype);
  cuda::RopeQkvParams p =
      cuda::rope_qkv_params(dtype, dqkv.get(), rows, heads, kv_heads, hd, table);
  p.position_period = period;
  cuda::rope_qkv(p, nullptr);
  const auto got = download(dqkv.get(), qkv.size(), dtype);
  EXPECT_LT(relative_error(got, expected), gpu_test::tolerance(dtype));
  size_t untouched_differ = 0;
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < width; ++c) {
      const bool rotated = c < (heads + kv_heads) * hd && c % hd < rotary;
      const size_t at = size_t(r) * width + c;
      if (!rotated && got[at] != qkv[at]) ++untouched_differ;
    }
  EXPECT_EQ(untouched_differ, 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, RopeInPlaceTest,
    ::testing::Values(std::make_tuple(DType::kBF16, 20, 20, 64, 32, 37, 15),  // real encoder
                      std::make_tuple(DType::kF16, 20, 20, 64, 32, 8, 3),
                      std::make_tuple(DType::kBF16, 2, 2, 16, 8, 20, 6),      // tiny: generic
                      std::make_tuple(DType::kBF16, 4, 2, 128, 128, 5, 5)));  // full rotary

TEST(RopeTest, PerRowPositionsAndSlotsForTheDecodingStep) {
  GLMASR_SKIP_WITHOUT_GPU();
  const DType dtype = DType::kBF16;
  const int heads = 4, kv_heads = 2, hd = 16, rows = 3, max_seq = 50, slots = 4;
  const int width = (heads + 2 * kv_heads) * hd;
  const std::vector<int32_t> positions = {0, 41, 7}, row_slots = {3, 0, 1};
  const auto qkv = random_values(int64_t{rows} * width, dtype, 71);
  cuda::RopeTable table = cuda::make_rope_table(dtype, max_seq, hd, 10000.0f);
  auto dqkv = upload(qkv, dtype);
  cuda::DeviceBuffer dpos(rows * 4), dslots(rows * 4);
  GLMASR_CUDA_CHECK(cudaMemcpy(dpos.get(), positions.data(), rows * 4, cudaMemcpyHostToDevice));
  GLMASR_CUDA_CHECK(cudaMemcpy(dslots.get(), row_slots.data(), rows * 4, cudaMemcpyHostToDevice));
  const int64_t cache_count = int64_t{slots} * kv_heads * max_seq * hd;
  auto k_cache = poisoned(cache_count), v_cache = poisoned(cache_count);
  cuda::RopeQkvParams p = gpu_test::rope_qkv_params(dtype, dqkv.get(), rows, heads, kv_heads, hd,
                                                    table, k_cache.get(), v_cache.get(), max_seq);
  p.positions = dpos.as<int32_t>();
  p.slots = dslots.as<int32_t>();
  cuda::rope_qkv(p, nullptr);
  const auto got_k_cache = download(k_cache.get(), cache_count, dtype);
  for (int r = 0; r < rows; ++r) {
    std::vector<float> k(qkv.begin() + size_t(r) * width + heads * hd,
                         qkv.begin() + size_t(r) * width + (heads + kv_heads) * hd);
    cpu::rope(k.data(), 1, kv_heads, hd, hd, 10000.0f, positions[r]);
    std::vector<float> got;
    for (int h = 0; h < kv_heads; ++h) {
      const size_t at = ((size_t(row_slots[r]) * kv_heads + h) * max_seq + positions[r]) * hd;
      got.insert(got.end(), got_k_cache.begin() + at, got_k_cache.begin() + at + hd);
    }
    EXPECT_LT(relative_error(got, k), gpu_test::tolerance(dtype)) << "row " << r;
  }
}

}  // namespace
}  // namespace glmasr
