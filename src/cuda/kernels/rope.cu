#include <cmath>
#include <cstdint>
#include <vector>

#include "cuda/check.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/rope.h"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void rope_qkv_kernel(RopeQkvParams p, const T* __restrict__ cos_table,
                                const T* __restrict__ sin_table) {
  // A dependent launch: the attention after it may start (it reads the rotated q and the new
  // K/V row only after its own wait), and qkv is read once the projection that wrote it is done.
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t r = blockIdx.x;
  const int width = (p.heads + 2 * p.kv_heads) * p.head_dim;
  T* row = static_cast<T*>(p.qkv) + r * width;
  int position;
  if (p.positions) {
    position = p.positions[r];
  } else {
    position = static_cast<int>(p.position_period > 0 ? r % p.position_period : r);
    position += p.first_position;
  }
  const int half = p.rotary_dim / 2;
  const T* cos_row = cos_table + static_cast<int64_t>(position) * half;
  const T* sin_row = sin_table + static_cast<int64_t>(position) * half;
  const int slot = p.slots ? p.slots[r] : p.slot;
  for (int i = threadIdx.x; i < width; i += blockDim.x) {
    const int head = i / p.head_dim, d = i % p.head_dim;
    const bool is_q = head < p.heads, is_k = !is_q && head < p.heads + p.kv_heads;
    if ((is_q || is_k) && d >= half && d < p.rotary_dim) continue;  // written with its pair
    T* cache = nullptr;
    if (!is_q && p.k_cache) {
      const int kv_head = is_k ? head - p.heads : head - p.heads - p.kv_heads;
      cache =
          static_cast<T*>(is_k ? p.k_cache : p.v_cache) + p.kv().offset(slot, kv_head, position);
    }
    T* dst = is_q && p.q_out ? static_cast<T*>(p.q_out) + r * p.heads * p.head_dim +
                                   static_cast<int64_t>(head) * p.head_dim
                             : row + static_cast<int64_t>(head) * p.head_dim;
    const T* src = row + static_cast<int64_t>(head) * p.head_dim;
    if ((is_q || is_k) && d < half) {
      // q*cos + rotate_half(q)*sin with every product rounded, as the bf16 reference does.
      const float x1 = to_float(src[d]), x2 = to_float(src[d + half]);
      const float c = to_float(cos_row[d]), s = to_float(sin_row[d]);
      const T y1 = from_float<T>(round_to<T>(x1 * c) - round_to<T>(x2 * s));
      const T y2 = from_float<T>(round_to<T>(x2 * c) + round_to<T>(x1 * s));
      dst[d] = y1;
      dst[d + half] = y2;
      if (cache) {
        cache[d] = y1;
        cache[d + half] = y2;
      }
    } else {
      const T value = src[d];
      if (is_q && p.q_out) dst[d] = value;
      if (cache) cache[d] = value;
    }
  }
}

// The in-place case (the encoder: no cache, no separate q) for rotary halves that are whole
// 16-byte vectors: one thread per (row, q/k head, 8 pairs), four 16-byte loads and two stores,
// and no per-element index arithmetic over the v heads it leaves alone. The generic kernel
// above walked all 3840 columns of every encoder row for the 1280 it rotates (0.52 ms of a
// 30 s window's 5.7). Same products and roundings.
template <typename T>
__global__ void rope_in_place_vec8_kernel(RopeQkvParams p, const T* __restrict__ cos_table,
                                          const T* __restrict__ sin_table) {
  allow_next_kernel();  // a dependent launch, as rope_qkv_kernel's
  wait_for_previous_kernel();
  const int half = p.rotary_dim / 2, chunks = half / 8, rotated_heads = p.heads + p.kv_heads;
  const int64_t item = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t per_row = int64_t{rotated_heads} * chunks;
  if (item >= p.rows * per_row) return;
  const int64_t r = item / per_row;
  const int within = static_cast<int>(item - r * per_row);
  const int head = within / chunks, d = (within - head * chunks) * 8;
  const int position =
      static_cast<int>(p.position_period > 0 ? r % p.position_period : r) + p.first_position;
  const int width = (p.heads + 2 * p.kv_heads) * p.head_dim;
  T* x = static_cast<T*>(p.qkv) + r * width + int64_t{head} * p.head_dim + d;
  const Vec8<T> x1 = load8(x), x2 = load8(x + half);
  const Vec8<T> c = load8(cos_table + int64_t{position} * half + d);
  const Vec8<T> sn = load8(sin_table + int64_t{position} * half + d);
  Vec8<T> y1, y2;
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const float a = to_float(x1.e[e]), b = to_float(x2.e[e]);
    const float ce = to_float(c.e[e]), se = to_float(sn.e[e]);
    y1.e[e] = from_float<T>(round_to<T>(a * ce) - round_to<T>(b * se));
    y2.e[e] = from_float<T>(round_to<T>(b * ce) + round_to<T>(a * se));
  }
  *reinterpret_cast<uint4*>(x) = y1.raw;
  *reinterpret_cast<uint4*>(x + half) = y2.raw;
}

}  // namespace

void rope_table_host(int positions, int rotary_dim, float theta, DType dtype, float* cos_out,
                     float* sin_out) {
  const int half = rotary_dim / 2;
  for (int d = 0; d < half; ++d) {
    // transformers: 1 / base^(arange(0, dim, 2) / dim) in float32, then position * inv_freq.
    const float inv_freq =
        1.0f / std::pow(theta, static_cast<float>(2 * d) / static_cast<float>(rotary_dim));
    for (int t = 0; t < positions; ++t) {
      const float angle = static_cast<float>(t) * inv_freq;
      float c = std::cos(angle), s = std::sin(angle);
      if (dtype == DType::kBF16) {
        c = round_to_bf16(c);
        s = round_to_bf16(s);
      } else {
        c = fp16_to_float(float_to_fp16(c));
        s = fp16_to_float(float_to_fp16(s));
      }
      cos_out[static_cast<int64_t>(t) * half + d] = c;
      sin_out[static_cast<int64_t>(t) * half + d] = s;
    }
  }
}

RopeTable make_rope_table(DType dtype, int positions, int rotary_dim, float theta) {
  GLMASR_CHECK(rotary_dim > 0 && rotary_dim % 2 == 0 && positions > 0,
               "rope table: expected an even rotary_dim > 0 and positions > 0, got ", rotary_dim,
               " and ", positions);
  const int64_t count = static_cast<int64_t>(positions) * (rotary_dim / 2);
  std::vector<float> cos_values(count), sin_values(count);
  rope_table_host(positions, rotary_dim, theta, dtype, cos_values.data(), sin_values.data());
  std::vector<uint16_t> bits(2 * count);
  for (int64_t i = 0; i < count; ++i) {
    bits[i] = dtype == DType::kBF16 ? float_to_bf16(cos_values[i]) : float_to_fp16(cos_values[i]);
    bits[count + i] =
        dtype == DType::kBF16 ? float_to_bf16(sin_values[i]) : float_to_fp16(sin_values[i]);
  }
  RopeTable table{DeviceBuffer(bits.size() * sizeof(uint16_t)), positions, rotary_dim};
  GLMASR_CUDA_CHECK(
      cudaMemcpy(table.values.get(), bits.data(), table.values.bytes(), cudaMemcpyHostToDevice));
  return table;
}

void rope_qkv(const RopeQkvParams& p, cudaStream_t stream) {
  if (p.rows == 0) return;
  GLMASR_CHECK(
      p.table != nullptr && p.table->rotary_dim == p.rotary_dim && p.rotary_dim <= p.head_dim,
      "rope_qkv: expected a table for rotary_dim ", p.rotary_dim, " <= head_dim ", p.head_dim);
  const int width = (p.heads + 2 * p.kv_heads) * p.head_dim;
  const bool in_place = !p.k_cache && !p.q_out && !p.positions;
  if (in_place && p.rotary_dim % 16 == 0 && p.head_dim % 8 == 0 &&
      reinterpret_cast<uintptr_t>(p.qkv) % 16 == 0) {
    const int64_t items = p.rows * (p.heads + p.kv_heads) * (p.rotary_dim / 16);
    constexpr int threads = 256;
    GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
      launch_dependent(
          rope_in_place_vec8_kernel<T>,
          {dim3(static_cast<unsigned>((items + threads - 1) / threads)), threads, stream}, p,
          static_cast<const T*>(p.table->cos()), static_cast<const T*>(p.table->sin()));
    });
    GLMASR_CUDA_CHECK_LAUNCH();
    return;
  }
  const unsigned threads = width >= 1024 ? 512 : ((width + 31) / 32) * 32;
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
    launch_dependent(rope_qkv_kernel<T>, {dim3(static_cast<unsigned>(p.rows)), threads, stream}, p,
                     static_cast<const T*>(p.table->cos()), static_cast<const T*>(p.table->sin()));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
