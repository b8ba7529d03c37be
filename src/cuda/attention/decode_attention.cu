// Flash-decoding: attention of one new token per sequence against its KV-cache slot.
//
// The keys are cut into fixed chunks of kDecodeChunk. One block handles one (sequence, kv head,
// chunk) for every q head of that kv head, so grouped-query heads read each K/V row once; it
// writes the chunk's softmax statistics (max, sum) and unnormalised output to the workspace.
// A second kernel merges the chunks of each (sequence, head). The grid depends on batch and
// max_seq only: chunks past a sequence's length exit at once, which keeps a captured CUDA graph
// valid while the lengths in device memory change from step to step.
#include <cuda_bf16.h>

#include <cmath>

#include "core/error.h"
#include "cuda/attention/attention_internal.h"
#include "cuda/check.h"

namespace glmasr::cuda::attention_internal {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kLanesPerKey = 8;  // lanes that split one key's dot products
constexpr int kKeysPerPass = kThreads / kLanesPerKey;
constexpr int kPairsPerLane = kMaxHeadDim / 2 / 32;  // bf16 pairs of a value row per lane
constexpr int kPasses = kDecodeChunk / kKeysPerPass;
constexpr int kPairsPerSub = kMaxHeadDim / 2 / kLanesPerKey;  // bf16 pairs of a key per lane
constexpr int kKeysPerWarp = kDecodeChunk / kWarps;
constexpr int kQPerThread = kMaxDecodeGroup * kMaxHeadDim / kThreads;
constexpr int kMergeBatch = 8;  // chunks whose loads the merge issues together

int decode_chunks(int max_seq) {
  return (max_seq + kDecodeChunk - 1) / kDecodeChunk;
}

// Workspace: [batch, heads, chunks] (max, sum) pairs, then [batch, heads, chunks, head_dim].
struct DecodeWorkspace {
  float* stats;
  float* acc;
  __host__ __device__ DecodeWorkspace(float* base, int batch, int heads, int chunks)
      : stats(base), acc(base + static_cast<int64_t>(batch) * heads * chunks * 2) {}
};

__device__ __forceinline__ int visible_keys(const DecodeAttentionParams& p, int b) {
  return min(max(p.seq_len[b], 0), p.max_seq);
}

__global__ void __launch_bounds__(kThreads)
    decode_partial_kernel(DecodeAttentionParams p, float scale_log2, int chunks) {
  __shared__ float q_rows[kMaxDecodeGroup][kMaxHeadDim];
  __shared__ float weights[kMaxDecodeGroup][kDecodeChunk];
  __shared__ float warp_out[kWarps][kMaxDecodeGroup][kMaxHeadDim];

  const int chunk = blockIdx.x, kvh = blockIdx.y, b = blockIdx.z;
  const int key0 = chunk * kDecodeChunk;
  const int len = visible_keys(p, b);
  const int slot = p.slot_of_seq[b];  // loaded alongside the length, before the exit test
  if (key0 >= len) return;            // whole block: nothing of this chunk is visible
  const int keys = min(kDecodeChunk, len - key0);
  const int group = p.heads / p.kv_heads, hd = p.head_dim, pairs = hd / 2;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;

  // The q heads of this kv head, loaded first: they do not wait for the slot.
  const auto* q = static_cast<const __nv_bfloat16*>(p.q) +
                  (static_cast<int64_t>(b) * p.heads + kvh * group) * hd;
  __nv_bfloat16 q_values[kQPerThread];
#pragma unroll
  for (int j = 0; j < kQPerThread; ++j) {
    const int i = tid + kThreads * j;
    q_values[j] = i < group * hd ? q[i] : __float2bfloat16(0.0f);
  }

  const int64_t head_offset = (static_cast<int64_t>(slot) * p.kv_heads + kvh) * p.max_seq * hd;
  const auto* k_rows = static_cast<const __nv_bfloat16*>(p.k_cache) + head_offset;
  const auto* v_rows = static_cast<const __nv_bfloat16*>(p.v_cache) + head_offset;

  // A chunk is latency bound: every K and V load of this thread is issued before the first
  // use (fully unrolled into registers), so the block waits for memory about once.
  // Scores: 8 lanes per key, 16 keys per pass. Values: warp w takes keys w, w+4, ...
  const int sub = tid % kLanesPerKey;
  const __nv_bfloat162 zero = __float2bfloat162_rn(0.0f);
  __nv_bfloat162 k_pieces[kPasses][kPairsPerSub];
#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int local = pass * kKeysPerPass + tid / kLanesPerKey;
    const auto* k_row =
        reinterpret_cast<const __nv_bfloat162*>(k_rows + static_cast<int64_t>(key0 + local) * hd);
#pragma unroll
    for (int i = 0; i < kPairsPerSub; ++i) {
      const int pair = sub + kLanesPerKey * i;
      k_pieces[pass][i] = local < keys && pair < pairs ? k_row[pair] : zero;
    }
  }
  __nv_bfloat162 v_pieces[kKeysPerWarp][kPairsPerLane];
#pragma unroll
  for (int j = 0; j < kKeysPerWarp; ++j) {
    const int local = warp + kWarps * j;
    const auto* v_row =
        reinterpret_cast<const __nv_bfloat162*>(v_rows + static_cast<int64_t>(key0 + local) * hd);
#pragma unroll
    for (int i = 0; i < kPairsPerLane; ++i) {
      const int pair = lane + 32 * i;
      v_pieces[j][i] = local < keys && pair < pairs ? v_row[pair] : zero;
    }
  }

#pragma unroll
  for (int j = 0; j < kQPerThread; ++j) {
    const int i = tid + kThreads * j;
    if (i < group * hd) q_rows[i / hd][i % hd] = __bfloat162float(q_values[j]) * scale_log2;
  }
  __syncthreads();

#pragma unroll
  for (int pass = 0; pass < kPasses; ++pass) {
    const int local = pass * kKeysPerPass + tid / kLanesPerKey;
    float dot[kMaxDecodeGroup];
#pragma unroll
    for (int g = 0; g < kMaxDecodeGroup; ++g) dot[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < kPairsPerSub; ++i) {
      const int pair = sub + kLanesPerKey * i;
      if (pair >= pairs) break;
      const float2 kf = __bfloat1622float2(k_pieces[pass][i]);
#pragma unroll
      for (int g = 0; g < kMaxDecodeGroup; ++g)
        if (g < group) dot[g] += q_rows[g][2 * pair] * kf.x + q_rows[g][2 * pair + 1] * kf.y;
    }
#pragma unroll
    for (int g = 0; g < kMaxDecodeGroup; ++g) {
      if (g >= group) break;
      float s = dot[g];
      for (int offset = kLanesPerKey / 2; offset > 0; offset /= 2)
        s += __shfl_xor_sync(0xffffffffu, s, offset);
      if (sub == 0) weights[g][local] = local < keys ? s : -INFINITY;
    }
  }
  __syncthreads();

  // Chunk softmax per q head (a warp per head); key 0 of the chunk is always visible.
  const DecodeWorkspace ws(p.workspace, p.batch, p.heads, chunks);
  for (int g = warp; g < group; g += kWarps) {
    const float s0 = weights[g][lane], s1 = weights[g][lane + 32];
    float m = fmaxf(s0, s1);
    for (int offset = 16; offset > 0; offset /= 2)
      m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, offset));
    const float e0 = exp2f(s0 - m), e1 = exp2f(s1 - m);
    float sum = e0 + e1;
    for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    weights[g][lane] = e0;
    weights[g][lane + 32] = e1;
    if (lane == 0) {
      const int64_t item = (static_cast<int64_t>(b) * p.heads + kvh * group + g) * chunks + chunk;
      ws.stats[2 * item] = m;
      ws.stats[2 * item + 1] = sum;
    }
  }
  __syncthreads();

  // Weighted values; masked keys carry weight 0 and zero values.
  float2 acc[kMaxDecodeGroup][kPairsPerLane];
#pragma unroll
  for (int g = 0; g < kMaxDecodeGroup; ++g)
#pragma unroll
    for (int i = 0; i < kPairsPerLane; ++i) acc[g][i] = make_float2(0.0f, 0.0f);
#pragma unroll
  for (int j = 0; j < kKeysPerWarp; ++j) {
    const int local = warp + kWarps * j;
#pragma unroll
    for (int i = 0; i < kPairsPerLane; ++i) {
      const float2 vf = __bfloat1622float2(v_pieces[j][i]);
#pragma unroll
      for (int g = 0; g < kMaxDecodeGroup; ++g) {
        if (g >= group) break;
        const float w = weights[g][local];
        acc[g][i].x += w * vf.x;
        acc[g][i].y += w * vf.y;
      }
    }
  }
#pragma unroll
  for (int g = 0; g < kMaxDecodeGroup; ++g) {
    if (g >= group) break;
#pragma unroll
    for (int i = 0; i < kPairsPerLane; ++i) {
      const int pair = lane + 32 * i;
      if (pair >= pairs) break;
      warp_out[warp][g][2 * pair] = acc[g][i].x;
      warp_out[warp][g][2 * pair + 1] = acc[g][i].y;
    }
  }
  __syncthreads();
  for (int i = tid; i < group * hd; i += kThreads) {
    const int g = i / hd, d = i % hd;
    float total = 0.0f;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) total += warp_out[w][g][d];
    const int64_t item = (static_cast<int64_t>(b) * p.heads + kvh * group + g) * chunks + chunk;
    ws.acc[item * hd + d] = total;
  }
}

__device__ __forceinline__ float block_reduce(float value, bool is_max, float* scratch) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const float other = __shfl_xor_sync(0xffffffffu, value, offset);
    value = is_max ? fmaxf(value, other) : value + other;
  }
  __syncthreads();  // scratch may still be read from a previous reduction
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = value;
  __syncthreads();
  value = scratch[0];
  for (int w = 1; w < kMaxHeadDim / 32; ++w)
    value = is_max ? fmaxf(value, scratch[w]) : value + scratch[w];
  return value;
}

// One block per (head, sequence). The chunk statistics are read in parallel (a thread per
// chunk), then thread d sums output element d over the chunks, kMergeBatch loads at a time.
__global__ void __launch_bounds__(kMaxHeadDim)
    decode_merge_kernel(DecodeAttentionParams p, int chunks) {
  __shared__ float scratch[kMaxHeadDim / 32];
  const int h = blockIdx.x, b = blockIdx.y, tid = threadIdx.x;
  const int len = visible_keys(p, b);
  const int active = (len + kDecodeChunk - 1) / kDecodeChunk;
  const DecodeWorkspace ws(p.workspace, p.batch, p.heads, chunks);
  const int64_t first = (static_cast<int64_t>(b) * p.heads + h) * chunks;

  float local_max = -INFINITY;
  for (int c = tid; c < active; c += kMaxHeadDim)
    local_max = fmaxf(local_max, ws.stats[2 * (first + c)]);
  const float best = block_reduce(local_max, true, scratch);
  float local_sum = 0.0f;
  for (int c = tid; c < active; c += kMaxHeadDim)
    local_sum += exp2f(ws.stats[2 * (first + c)] - best) * ws.stats[2 * (first + c) + 1];
  const float total = block_reduce(local_sum, false, scratch);

  if (tid >= p.head_dim) return;
  float value = 0.0f;
  for (int c0 = 0; c0 < active; c0 += kMergeBatch) {
    float maxima[kMergeBatch], partial[kMergeBatch];
#pragma unroll
    for (int j = 0; j < kMergeBatch; ++j) {
      const int c = c0 + j;
      maxima[j] = c < active ? ws.stats[2 * (first + c)] : -INFINITY;
      partial[j] = c < active ? ws.acc[(first + c) * p.head_dim + tid] : 0.0f;
    }
#pragma unroll
    for (int j = 0; j < kMergeBatch; ++j) value += exp2f(maxima[j] - best) * partial[j];
  }
  auto* out = static_cast<__nv_bfloat16*>(p.out);
  out[(static_cast<int64_t>(b) * p.heads + h) * p.head_dim + tid] =
      __float2bfloat16(active > 0 ? value / total : 0.0f);
}

}  // namespace

}  // namespace glmasr::cuda::attention_internal

namespace glmasr::cuda {

size_t decode_attention_workspace_bytes(int batch, int heads, int head_dim, int max_seq) {
  GLMASR_CHECK(batch >= 1 && heads >= 1 && head_dim >= 1 && max_seq >= 1,
               "decode_attention_workspace_bytes: expected positive batch, heads, head_dim and "
               "max_seq, got ",
               batch, ", ", heads, ", ", head_dim, ", ", max_seq);
  const size_t items =
      static_cast<size_t>(batch) * heads * attention_internal::decode_chunks(max_seq);
  return items * (static_cast<size_t>(head_dim) + 2) * sizeof(float);
}

void decode_attention(const DecodeAttentionParams& p, cudaStream_t stream) {
  using namespace attention_internal;
  check_decode_params(p);
  const int chunks = decode_chunks(p.max_seq);
  decode_partial_kernel<<<dim3(chunks, p.kv_heads, p.batch), kThreads, 0, stream>>>(
      p, p.scale * static_cast<float>(M_LOG2E), chunks);
  GLMASR_CUDA_CHECK_LAUNCH();
  decode_merge_kernel<<<dim3(p.heads, p.batch), kMaxHeadDim, 0, stream>>>(p, chunks);
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
