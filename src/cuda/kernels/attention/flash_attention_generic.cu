// The generic attention kernel: CUDA cores, any even head_dim <= 128, any even strides. It
// serves the tiny test models (head_dim 12 and 16) and is the fallback when the tensor-core
// kernel's alignment needs are not met. One warp owns one query row: each lane scores one key
// of a 32-key slice, then the warp accumulates the slice's values with lanes splitting head_dim.
// T is the element type (__nv_bfloat16 or __half); the arithmetic is fp32 either way.
#include <cmath>

#include "cuda/check.h"
#include "cuda/kernels/attention/attention_internal.h"
#include "cuda/kernels/attention/element_pair.cuh"
#include "cuda/kernels/attention/flash_entry.cuh"
#include "cuda/kernels/element.cuh"

namespace glmasr::cuda::attention_internal {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kPairsPerLane = kMaxHeadDim / 2 / 32;  // element pairs of the output each lane owns

template <typename T>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    flash_attention_generic_kernel(FlashAttentionParams p, float scale_log2) {
  __shared__ float q_rows[kWarpsPerBlock][kMaxHeadDim];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int row = blockIdx.x * kWarpsPerBlock + warp;
  const int h = blockIdx.y, b = blockIdx.z;
  const FlashEntry entry = flash_entry(p, b);
  if (row >= entry.q_len) return;  // whole warp leaves; no block-wide barrier follows
  const int kvh = h / (p.heads / p.kv_heads);
  const int pairs = p.head_dim / 2;

  const auto* q =
      static_cast<const T*>(p.q.ptr) + entry.q_offset + row * p.q.row_stride + h * p.q.head_stride;
  // The scale is folded into q once, in the log2 domain so that exp2f gives the softmax.
  for (int d = lane; d < p.head_dim; d += 32) q_rows[warp][d] = to_float(q[d]) * scale_log2;
  __syncwarp();

  const auto* k = static_cast<const T*>(p.k.ptr) + entry.k_offset + kvh * p.k.head_stride;
  const auto* v = static_cast<const T*>(p.v.ptr) + entry.v_offset + kvh * p.v.head_stride;
  const int visible = p.causal ? entry.kv_len - entry.q_len + row + 1 : entry.kv_len;

  float running_max = -INFINITY, running_sum = 0.0f;
  float2 acc[kPairsPerLane];
#pragma unroll
  for (int i = 0; i < kPairsPerLane; ++i) acc[i] = make_float2(0.0f, 0.0f);

  for (int key0 = 0; key0 < visible; key0 += 32) {
    const int key = key0 + lane;
    float score = -INFINITY;
    if (key < visible) {
      const auto* k_row = reinterpret_cast<const Pair<T>*>(k + key * p.k.row_stride);
      score = 0.0f;
      for (int i = 0; i < pairs; ++i) {
        const float2 kf = pair_to_float2(k_row[i]);
        score += q_rows[warp][2 * i] * kf.x + q_rows[warp][2 * i + 1] * kf.y;
      }
    }
    float slice_max = score;
    for (int offset = 16; offset > 0; offset /= 2)
      slice_max = fmaxf(slice_max, __shfl_xor_sync(0xffffffffu, slice_max, offset));
    const float new_max = fmaxf(running_max, slice_max);  // finite: key0 < visible
    const float correction = exp2f(running_max - new_max);
    const float weight = exp2f(score - new_max);  // 0 for masked lanes
    float slice_sum = weight;
    for (int offset = 16; offset > 0; offset /= 2)
      slice_sum += __shfl_xor_sync(0xffffffffu, slice_sum, offset);
    running_sum = running_sum * correction + slice_sum;
    running_max = new_max;
#pragma unroll
    for (int i = 0; i < kPairsPerLane; ++i) {
      acc[i].x *= correction;
      acc[i].y *= correction;
    }
    const int slice_keys = min(32, visible - key0);
    for (int j = 0; j < slice_keys; ++j) {
      const float w = __shfl_sync(0xffffffffu, weight, j);
      const auto* v_row = reinterpret_cast<const Pair<T>*>(v + (key0 + j) * p.v.row_stride);
#pragma unroll
      for (int i = 0; i < kPairsPerLane; ++i) {
        const int pair = lane + 32 * i;
        if (pair < pairs) {
          const float2 vf = pair_to_float2(v_row[pair]);
          acc[i].x += w * vf.x;
          acc[i].y += w * vf.y;
        }
      }
    }
  }

  auto* out = reinterpret_cast<Pair<T>*>(static_cast<T*>(p.out.ptr) + entry.out_offset +
                                         row * p.out.row_stride + h * p.out.head_stride);
  const float inv_sum = 1.0f / running_sum;
#pragma unroll
  for (int i = 0; i < kPairsPerLane; ++i) {
    const int pair = lane + 32 * i;
    if (pair < pairs) out[pair] = pair_from_floats<T>(acc[i].x * inv_sum, acc[i].y * inv_sum);
  }
}

}  // namespace

void launch_flash_attention_generic(const FlashAttentionParams& p, cudaStream_t stream) {
  const dim3 grid((p.q_len + kWarpsPerBlock - 1) / kWarpsPerBlock, p.heads, p.batch);
  const float scale_log2 = p.scale * static_cast<float>(M_LOG2E);
  GLMASR_DISPATCH_ELEMENT(p.dtype, T,
                          flash_attention_generic_kernel<T>
                          <<<grid, kWarpsPerBlock * 32, 0, stream>>>(p, scale_log2));
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda::attention_internal
