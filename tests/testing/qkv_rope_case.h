// The shared part of the tests of the fused QKV + RoPE + KV-write epilogue (the matrix-vector and
// the skinny kernel, bf16 and fp8 weights): one decoding step's rows in different slots and at
// different positions, the reference (rope_qkv over the plain product's q|k|v rows) and the
// fused kernel's outputs, each starting as the same poison, compared bit for bit.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/kernels/qkv_rope_epilogue.h"
#include "cuda/kernels/rope.h"
#include "testing/gpu.h"

namespace glmasr::gpu_test {

class QkvRopeCase {
 public:
  static constexpr int kMaxSeq = 40;

  // Row b sits in slot (slots - 1 - b) % slots at position (first + stride * b) % kMaxSeq.
  QkvRopeCase(DType dtype, int batch, int heads, int kv_heads, int head_dim, int first = 7,
              int stride = 13)
      : dtype_(dtype),
        batch_(batch),
        heads_(heads),
        kv_heads_(kv_heads),
        head_dim_(head_dim),
        slots_(batch + 2),
        positions_(batch),
        row_slots_(batch),
        table_(cuda::make_rope_table(dtype, kMaxSeq, head_dim, 10000.0f)),
        device_positions_(batch * 4),
        device_slots_(batch * 4),
        q_count_(int64_t{batch} * heads * head_dim),
        cache_count_(int64_t{slots_} * kv_heads * kMaxSeq * head_dim),
        ref_q_(poisoned(q_count_)),
        ref_k_(poisoned(cache_count_)),
        ref_v_(poisoned(cache_count_)),
        q_(poisoned(q_count_)),
        k_(poisoned(cache_count_)),
        v_(poisoned(cache_count_)) {
    for (int b = 0; b < batch; ++b) {
      positions_[b] = (first + stride * b) % kMaxSeq;
      row_slots_[b] = (slots_ - 1 - b) % slots_;
    }
    GLMASR_CUDA_CHECK(
        cudaMemcpy(device_positions_.get(), positions_.data(), batch * 4, cudaMemcpyHostToDevice));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(device_slots_.get(), row_slots_.data(), batch * 4, cudaMemcpyHostToDevice));
  }

  // The projection's output rows: q, k and v heads.
  int out() const { return (heads_ + 2 * kv_heads_) * head_dim_; }

  // rope_qkv over the plain product's rows qkv [batch, out] into the reference outputs.
  void run_reference(void* qkv) {
    cuda::RopeQkvParams r = rope_qkv_params(dtype_, qkv, batch_, heads_, kv_heads_, head_dim_,
                                            table_, ref_k_.get(), ref_v_.get(), kMaxSeq);
    r.positions = device_positions_.as<int32_t>();
    r.q_out = ref_q_.get();
    r.slots = device_slots_.as<int32_t>();
    cuda::rope_qkv(r, nullptr);
  }

  // The epilogue that writes into the fused outputs.
  cuda::QkvRopeEpilogue epilogue() {
    cuda::QkvRopeEpilogue e;
    e.heads = heads_;
    e.kv_heads = kv_heads_;
    e.head_dim = head_dim_;
    e.cos = table_.cos();
    e.sin = table_.sin();
    e.positions = device_positions_.as<int32_t>();
    e.slots = device_slots_.as<int32_t>();
    e.q_out = q_.get();
    e.k_cache = k_.get();
    e.v_cache = v_.get();
    e.max_seq = kMaxSeq;
    return e;
  }

  // The fused outputs equal the reference's bit for bit (the caches' untouched positions too, as
  // both began as the same poison), and every row the step writes holds values, not the poison.
  void expect_same_bits() const {
    EXPECT_EQ(bits_of(q_, q_count_), bits_of(ref_q_, q_count_));
    EXPECT_EQ(bits_of(k_, cache_count_), bits_of(ref_k_, cache_count_));
    EXPECT_EQ(bits_of(v_, cache_count_), bits_of(ref_v_, cache_count_));
    for (float value : download(q_.get(), q_count_, dtype_)) ASSERT_TRUE(std::isfinite(value));
    const auto k = download(k_.get(), cache_count_, dtype_);
    const auto v = download(v_.get(), cache_count_, dtype_);
    const cuda::KvLayout kv{.kv_heads = kv_heads_, .positions = kMaxSeq, .head_dim = head_dim_};
    for (int b = 0; b < batch_; ++b) {
      for (int h = 0; h < kv_heads_; ++h) {
        const int64_t at = kv.offset(row_slots_[b], h, positions_[b]);
        for (int d = 0; d < head_dim_; ++d) {
          ASSERT_TRUE(std::isfinite(k[at + d])) << "row " << b << " head " << h << " dim " << d;
          ASSERT_TRUE(std::isfinite(v[at + d])) << "row " << b << " head " << h << " dim " << d;
        }
      }
    }
  }

 private:
  static std::vector<uint16_t> bits_of(const cuda::DeviceBuffer& buffer, int64_t count) {
    GLMASR_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<uint16_t> values(static_cast<size_t>(count));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(values.data(), buffer.get(), values.size() * 2, cudaMemcpyDeviceToHost));
    return values;
  }

  DType dtype_;
  int batch_, heads_, kv_heads_, head_dim_, slots_;
  std::vector<int32_t> positions_, row_slots_;
  cuda::RopeTable table_;
  cuda::DeviceBuffer device_positions_, device_slots_;
  int64_t q_count_, cache_count_;
  cuda::DeviceBuffer ref_q_, ref_k_, ref_v_, q_, k_, v_;
};

}  // namespace glmasr::gpu_test
