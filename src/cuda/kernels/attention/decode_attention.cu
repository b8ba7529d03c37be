// Flash-decoding: attention of one new token per sequence against its KV-cache slot, in ONE
// kernel launch.
//
// A thread-block cluster of `splits` blocks serves one (sequence, kv head), or one block of q
// heads of it. The blocks cut the sequence's actual length (read from device memory) into
// `splits` equal ranges, so no block is idle at short lengths and the grid depends on batch and
// max_seq only (a captured CUDA graph stays valid while the lengths change). A block serves
// every q head of its kv head, so a K/V row is read once, unless the grid would leave
// multiprocessors idle (batch 1): then each q head gets its own cluster, and a block's work
// after the wait shrinks with its heads. Inside a block, each half-warp owns a strided set of keys:
// lane i of the half holds dims 8i..8i+7 of a row (one 16-byte load), scores are reduced over the
// 16 lanes, and an online softmax keeps (max, sum, output) per half-warp in registers. The
// half-warps are merged in shared memory, then the blocks of the cluster are merged through
// distributed shared memory (each block writes a slice of the output). Nothing goes through global
// memory but q, K, V and the output, and no workspace or completion counter is needed.
//
// The kernel is a programmatic dependent launch, and at batch 1 its cost is latency, not bytes:
// the keys a block owns (all but the newest, which the QKV kernel just before it writes) are
// loaded BEFORE waiting for that kernel, so only q and the newest row are read after it.
#include <cooperative_groups.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/attention/attention_internal.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"

namespace glmasr::cuda::attention_internal {
namespace {

namespace cg = cooperative_groups;

constexpr int kThreads = 128;
constexpr int kLanesPerKey = 16;                  // a half-warp per key row
constexpr int kHalves = kThreads / kLanesPerKey;  // key rows in flight per step of the block
constexpr int kDimsPerLane = kMaxHeadDim / kLanesPerKey;  // 8 bf16 = one 16-byte load
constexpr int kQuads = kMaxHeadDim / 4;                   // float4 pieces of an output row
constexpr int kMaxSplits = 16;
constexpr int kBlocksPerSm = 2;
// Below this many keys per split a further split only adds merge work.
constexpr int kMinKeysPerSplit = 16;
constexpr float kNegInf = -INFINITY;

// Key rows each lane loads before the first use: one tile holds kHalves * kTile keys per block,
// so the common case (<= 64 keys per block for group <= 4) waits for memory once.
template <int kGroup>
constexpr int tile_keys() {
  return kGroup <= 4 ? 8 : 4;
}

// Shared-memory quads are stored as (j, lane): quad j*16 + lane holds dims 8*lane + 4*j ..+3,
// so the 16 lanes of a half-warp store 256 contiguous bytes (no bank conflicts).
__host__ __device__ constexpr int quad_first_dim(int quad) {
  return 8 * (quad % kLanesPerKey) + 4 * (quad / kLanesPerKey);
}

template <int kGroup>
struct DecodeShared {
  float4 half_acc[kHalves][kGroup][kQuads];
  float half_max[kHalves][kGroup], half_sum[kHalves][kGroup];
  float4 block_acc[kGroup][kQuads];
  float block_max[kGroup], block_sum[kGroup];
};

template <typename T, bool kVec>
__device__ __forceinline__ uint4 load_row_piece(const T* row, int d0, int hd) {
  uint4 raw = make_uint4(0, 0, 0, 0);
  if (d0 >= hd) return raw;
  if constexpr (kVec) {
    raw = __ldg(reinterpret_cast<const uint4*>(row + d0));
  } else {
    auto* values = reinterpret_cast<T*>(&raw);
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i)
      if (d0 + i < hd) values[i] = row[d0 + i];
  }
  return raw;
}

// kGroup: the q heads of one block (1, 2, 4 or 8). Either the whole group of a kv head, rounded
// up (the heads past the real group get a zero q and are never written), or an exact divisor of
// the group, the group's heads then spread over group / kGroup blocks that each read the keys
// (more blocks in flight when batch x kv_heads x splits leaves multiprocessors idle).
// Two blocks per multiprocessor: the keys loaded before the wait stay in registers across it
// (64 of them for a tile), which at three blocks (168 registers) spilled.
template <typename T, int kGroup, bool kVec>
__global__ void __launch_bounds__(kThreads, kBlocksPerSm)
    decode_attention_kernel(DecodeAttentionParams p, float scale_log2) {
  constexpr int kTile = tile_keys<kGroup>();
  constexpr int kTileKeys = kHalves * kTile;  // keys of one tile of the block
  __shared__ DecodeShared<kGroup> sh;
  cg::cluster_group cluster = cg::this_cluster();

  // The cluster spans gridDim.x, so the block's rank in it is blockIdx.x; blockIdx.y runs over
  // the blocks of q heads, gridDim.y / kv_heads of them per kv head.
  const int split = blockIdx.x, splits = gridDim.x, b = blockIdx.z;
  const int blocks_per_kv_head = gridDim.y / p.kv_heads, kvh = blockIdx.y / blocks_per_kv_head;
  const int tid = threadIdx.x, half = tid / kLanesPerKey, lane16 = tid % kLanesPerKey;
  const int hd = p.head_dim, d0 = lane16 * kDimsPerLane, group = p.heads / p.kv_heads;
  const int block_heads = min(kGroup, group);  // q heads of this block
  const int first_head = kvh * group + (blockIdx.y % blocks_per_kv_head) * kGroup;

  // Before the wait (see the file comment): lengths and slots come from the host, and every key
  // row but the newest was written by earlier steps, so none of them depends on the previous
  // kernel.
  const int len = min(max(p.seq_len[b], 0), p.max_seq);
  const int slot = p.slot_of_seq[b];
  const int per_split = (len + splits - 1) / splits;
  const int begin = min(len, split * per_split);
  const int keys = min(len, begin + per_split) - begin;  // this block's keys (may be 0)
  const int newest = len - 1 - begin;                    // in this block's numbering
  const int64_t head_offset = p.kv().offset(slot, kvh, begin);
  const T* k_rows = static_cast<const T*>(p.k_cache) + head_offset;
  const T* v_rows = static_cast<const T*>(p.v_cache) + head_offset;
  uint4 k_raw[kTile], v_raw[kTile];
  auto load_keys = [&](int tile0, bool skip_newest) {
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      const int key = tile0 + j * kHalves + half;
      const bool load = key < keys && !(skip_newest && key == newest);
      k_raw[j] = load ? load_row_piece<T, kVec>(k_rows + static_cast<int64_t>(key) * hd, d0, hd)
                      : make_uint4(0, 0, 0, 0);
      v_raw[j] = load ? load_row_piece<T, kVec>(v_rows + static_cast<int64_t>(key) * hd, d0, hd)
                      : make_uint4(0, 0, 0, 0);
    }
  };
  load_keys(0, true);

  // Now q and the newest K/V row (written by the previous kernel) may be read. The next kernel
  // may be launched at once: it waits for this grid's completion itself.
  wait_for_previous_kernel();
  allow_next_kernel();

  float q[kGroup][kDimsPerLane];
  {
    const T* q_head =
        static_cast<const T*>(p.q) + (static_cast<int64_t>(b) * p.heads + first_head) * hd;
    uint4 raw[kGroup];
#pragma unroll
    for (int g = 0; g < kGroup; ++g)
      raw[g] = g < block_heads ? load_row_piece<T, kVec>(q_head + g * hd, d0, hd)
                               : make_uint4(0, 0, 0, 0);
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      if (j * kHalves + half == newest && newest < keys) {
        k_raw[j] = load_row_piece<T, kVec>(k_rows + static_cast<int64_t>(newest) * hd, d0, hd);
        v_raw[j] = load_row_piece<T, kVec>(v_rows + static_cast<int64_t>(newest) * hd, d0, hd);
      }
    }
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      unpack8<T>(raw[g], q[g]);
#pragma unroll
      for (int i = 0; i < kDimsPerLane; ++i) q[g][i] *= scale_log2;  // scores in log2 units
    }
  }

  // Per half-warp online softmax; every lane of a half holds the same max and sum.
  float run_max[kGroup], run_sum[kGroup], acc[kGroup][kDimsPerLane];
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    run_max[g] = kNegInf;
    run_sum[g] = 0.0f;
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i) acc[g][i] = 0.0f;
  }

  // `keys` is uniform over the block, so every lane runs the same iterations (full-mask shuffles).
  // The first tile is loaded above; later ones (long sequences) after the wait, newest included.
  for (int tile0 = 0; tile0 < keys; tile0 += kTileKeys) {
    if (tile0 > 0) load_keys(tile0, false);
    float scores[kTile][kGroup];
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      float k_values[kDimsPerLane];
      unpack8<T>(k_raw[j], k_values);
#pragma unroll
      for (int g = 0; g < kGroup; ++g) {
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < kDimsPerLane; ++i) dot = fmaf(q[g][i], k_values[i], dot);
        scores[j][g] = dot;
      }
    }
    // Sum over the 16 lanes of each half-warp (xor offsets below 16 stay inside the half).
#pragma unroll
    for (int offset = kLanesPerKey / 2; offset > 0; offset /= 2)
#pragma unroll
      for (int j = 0; j < kTile; ++j)
#pragma unroll
        for (int g = 0; g < kGroup; ++g)
          scores[j][g] += __shfl_xor_sync(0xffffffffu, scores[j][g], offset);

#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      float tile_max = kNegInf;
#pragma unroll
      for (int j = 0; j < kTile; ++j) {
        if (tile0 + j * kHalves + half >= keys) scores[j][g] = kNegInf;
        tile_max = fmaxf(tile_max, scores[j][g]);
      }
      const float new_max = fmaxf(run_max[g], tile_max);
      // A half-warp whose keys have all run out keeps a -inf max: exponentiate against 0 then,
      // so that exp2(-inf - -inf) never makes a NaN (its sum and output stay 0).
      const float base = new_max == kNegInf ? 0.0f : new_max;
      const float rescale = exp2f(run_max[g] - base);
      run_max[g] = new_max;
      run_sum[g] *= rescale;
#pragma unroll
      for (int i = 0; i < kDimsPerLane; ++i) acc[g][i] *= rescale;
#pragma unroll
      for (int j = 0; j < kTile; ++j) {
        const float weight = exp2f(scores[j][g] - base);
        run_sum[g] += weight;
        float v_values[kDimsPerLane];
        unpack8<T>(v_raw[j], v_values);
#pragma unroll
        for (int i = 0; i < kDimsPerLane; ++i) acc[g][i] = fmaf(weight, v_values[i], acc[g][i]);
      }
    }
  }

  // Half-warps -> block.
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    sh.half_acc[half][g][lane16] = make_float4(acc[g][0], acc[g][1], acc[g][2], acc[g][3]);
    sh.half_acc[half][g][kLanesPerKey + lane16] =
        make_float4(acc[g][4], acc[g][5], acc[g][6], acc[g][7]);
    if (lane16 == 0) {
      sh.half_max[half][g] = run_max[g];
      sh.half_sum[half][g] = run_sum[g];
    }
  }
  __syncthreads();
  for (int item = tid; item < kGroup * kQuads; item += kThreads) {
    const int g = item / kQuads, quad = item % kQuads;
    float best = kNegInf;
#pragma unroll
    for (int h = 0; h < kHalves; ++h) best = fmaxf(best, sh.half_max[h][g]);
    float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float sum = 0.0f;
    if (best != kNegInf) {
#pragma unroll
      for (int h = 0; h < kHalves; ++h) {
        const float weight = exp2f(sh.half_max[h][g] - best);  // 0 for an empty half-warp
        const float4 part = sh.half_acc[h][g][quad];
        total.x = fmaf(weight, part.x, total.x);
        total.y = fmaf(weight, part.y, total.y);
        total.z = fmaf(weight, part.z, total.z);
        total.w = fmaf(weight, part.w, total.w);
        sum = fmaf(weight, sh.half_sum[h][g], sum);
      }
    }
    sh.block_acc[g][quad] = total;
    if (quad == 0) {
      sh.block_max[g] = best;
      sh.block_sum[g] = sum;
    }
  }

  // Blocks -> output: every block's partial is visible after the cluster barrier; block `split`
  // merges its slice of the group's quads from all blocks' shared memory.
  cluster.sync();
  constexpr int kAllQuads = kGroup * kQuads;
  const int slice = (kAllQuads + splits - 1) / splits;
  const int slice_end = min(kAllQuads, (split + 1) * slice);
  auto* out = static_cast<T*>(p.out) + (static_cast<int64_t>(b) * p.heads + first_head) * hd;
  for (int item = split * slice + tid; item < slice_end; item += kThreads) {
    const int g = item / kQuads, quad = item % kQuads, first = quad_first_dim(quad);
    if (first >= hd || g >= block_heads) continue;
    float maxima[kMaxSplits];
    float best = kNegInf;
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s) {
      maxima[s] = s < splits ? cluster.map_shared_rank(&sh.block_max[g], s)[0] : kNegInf;
      best = fmaxf(best, maxima[s]);
    }
    float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float sum = 0.0f;
    if (best != kNegInf) {
#pragma unroll
      for (int s = 0; s < kMaxSplits; ++s) {
        if (s >= splits) break;
        const float weight = exp2f(maxima[s] - best);
        const float4 part = cluster.map_shared_rank(&sh.block_acc[g][quad], s)[0];
        total.x = fmaf(weight, part.x, total.x);
        total.y = fmaf(weight, part.y, total.y);
        total.z = fmaf(weight, part.z, total.z);
        total.w = fmaf(weight, part.w, total.w);
        sum = fmaf(weight, cluster.map_shared_rank(&sh.block_sum[g], s)[0], sum);
      }
    }
    const float inv = best != kNegInf ? 1.0f / sum : 0.0f;  // length 0 gives zeros
    const float values[4] = {total.x * inv, total.y * inv, total.z * inv, total.w * inv};
    T* dst = out + g * hd + first;
    if constexpr (kVec) {
      const T pieces[4] = {from_float<T>(values[0]), from_float<T>(values[1]),
                           from_float<T>(values[2]), from_float<T>(values[3])};
      *reinterpret_cast<uint2*>(dst) = *reinterpret_cast<const uint2*>(pieces);
    } else {
#pragma unroll
      for (int i = 0; i < 4; ++i)
        if (first + i < hd) dst[i] = from_float<T>(values[i]);
    }
  }
  // No block may exit (freeing its shared memory) while another still reads it.
  cluster.sync();
}

bool is_aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

template <typename T, int kGroup, bool kVec>
void launch_decode(const DecodeAttentionParams& p, int splits, int blocks_per_kv_head,
                   cudaStream_t stream) {
  auto* kernel = decode_attention_kernel<T, kGroup, kVec>;
  if (splits > 8) {
    // Clusters above 8 blocks are "non-portable" and must be allowed per kernel, once on each
    // device (a function's attributes belong to the device's context).
    static std::array<std::atomic<bool>, cuda::kMaxDevices> allowed{};
    const int device = cuda::current_device();
    if (!allowed[device].load(std::memory_order_relaxed)) {
      GLMASR_CUDA_CHECK(
          cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
      allowed[device].store(true, std::memory_order_relaxed);
    }
  }
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(splits, p.kv_heads * blocks_per_kv_head, p.batch);
  config.blockDim = dim3(kThreads);
  config.stream = stream;
  cudaLaunchAttribute attributes[3]{};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = splits;
  attributes[0].val.clusterDim.y = 1;
  attributes[0].val.clusterDim.z = 1;
  // The kernel waits for the previous grid itself (griddepcontrol.wait), so it may be launched
  // before that grid ends; in a captured graph this becomes a programmatic edge.
  cudaLaunchAttribute dependent[2];
  const unsigned more = dependent_launch_attributes(p.shared_carveout, dependent);
  for (unsigned i = 0; i < more; ++i) attributes[1 + i] = dependent[i];
  config.attrs = attributes;
  config.numAttrs = 1 + more;
  GLMASR_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, p, p.scale * static_cast<float>(M_LOG2E)));
}

// heads_per_block: the whole group (rounded up to the kernel's 1, 2, 4 or 8) or a divisor of it.
template <typename T, bool kVec>
void launch_decode_for_heads(const DecodeAttentionParams& p, int splits, int heads_per_block,
                             cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  const int blocks = heads_per_block < group ? group / heads_per_block : 1;
  const int heads = std::min(heads_per_block, group);
  if (heads == 1) return launch_decode<T, 1, kVec>(p, splits, blocks, stream);
  if (heads == 2) return launch_decode<T, 2, kVec>(p, splits, blocks, stream);
  if (heads <= 4) return launch_decode<T, 4, kVec>(p, splits, blocks, stream);
  return launch_decode<T, 8, kVec>(p, splits, blocks, stream);
}

void launch_decode_checked(const DecodeAttentionParams& p, int splits, int heads_per_block,
                           cudaStream_t stream) {
  const bool vec = p.head_dim % 8 == 0 && is_aligned16(p.q) && is_aligned16(p.k_cache) &&
                   is_aligned16(p.v_cache) && is_aligned16(p.out);
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
    if (vec)
      launch_decode_for_heads<T, true>(p, splits, heads_per_block, stream);
    else
      launch_decode_for_heads<T, false>(p, splits, heads_per_block, stream);
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace

int decode_attention_splits(int batch, int kv_heads, int max_seq) {
  // As many blocks per (sequence, kv head) as keep every split >= kMinKeysPerSplit keys long at
  // max_seq, up to 8 (the portable cluster size), halved while the grid would exceed one block
  // per multiprocessor (sm_count(): more only queues blocks behind others). Measured on the H100
  // at 400 keys, 16/4 heads: batch 1 takes 5.5 us with 8 splits (6.2 with 4); batch 8 takes
  // 7.9 us with 4 and 12.3 with 8.
  int splits = 8;
  while (splits > 1 && splits * kMinKeysPerSplit > max_seq) splits /= 2;
  while (splits > 1 && static_cast<int64_t>(batch) * kv_heads * splits > sm_count()) splits /= 2;
  return splits;
}

int decode_attention_heads_per_block(int batch, int heads, int kv_heads, int splits) {
  // A block serves its kv head's whole group of q heads, reading each key once, unless the grid
  // would leave multiprocessors idle: then the group is spread over more blocks (each reads the
  // keys again from L2), which shortens every block's work after the wait. Measured on the H100
  // at 400 keys, 16/4 heads, batch 1, 8 splits: 5.40 us per layer with 4 heads per block, 4.28
  // with 1 (the step: 1.367 -> 1.310 ms); batch 8 keeps 4 heads per block (7.75 us, 4 splits).
  const int group = heads / kv_heads;
  for (int per_block = 1; per_block < group; per_block *= 2)
    if (group % per_block == 0 &&
        static_cast<int64_t>(batch) * (heads / per_block) * splits <= sm_count())
      return per_block;
  return group;
}

}  // namespace glmasr::cuda::attention_internal

namespace glmasr::cuda {

size_t decode_attention_workspace_bytes(int batch, int heads, int head_dim, int max_seq) {
  GLMASR_CHECK(batch >= 1 && heads >= 1 && head_dim >= 1 && max_seq >= 1,
               "decode_attention_workspace_bytes: expected positive batch, heads, head_dim and "
               "max_seq, got ",
               batch, ", ", heads, ", ", head_dim, ", ", max_seq);
  // The cluster kernel keeps its partial results in shared memory; a token allocation keeps
  // callers that allocate this many bytes (and pass the pointer) working.
  return 256;
}

void decode_attention(const DecodeAttentionParams& p, cudaStream_t stream) {
  using namespace attention_internal;
  check_decode_params(p);
  const int splits = decode_attention_splits(p.batch, p.kv_heads, p.max_seq);
  launch_decode_checked(
      p, splits, decode_attention_heads_per_block(p.batch, p.heads, p.kv_heads, splits), stream);
}

namespace detail {
void decode_attention_with_splits(const DecodeAttentionParams& p, int splits, cudaStream_t stream,
                                  int heads_per_block) {
  using namespace attention_internal;
  check_decode_params(p);
  GLMASR_CHECK(splits >= 1 && splits <= kMaxSplits,
               "decode_attention_with_splits: splits: expected 1..", kMaxSplits, ", got ", splits);
  const int group = p.heads / p.kv_heads;
  if (heads_per_block == 0)
    heads_per_block = decode_attention_heads_per_block(p.batch, p.heads, p.kv_heads, splits);
  GLMASR_CHECK(heads_per_block >= group || (heads_per_block >= 1 && group % heads_per_block == 0 &&
                                            (heads_per_block & (heads_per_block - 1)) == 0),
               "decode_attention_with_splits: heads_per_block: expected the group of ", group,
               " q heads per kv head or a power-of-two divisor of it, got ", heads_per_block);
  launch_decode_checked(p, splits, heads_per_block, stream);
}
}  // namespace detail

}  // namespace glmasr::cuda
