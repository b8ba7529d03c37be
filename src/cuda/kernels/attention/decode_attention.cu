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
//
// With many sequences (a batch of 64 reads ~60 MB of keys a layer) the cost is bytes, and the
// register kernel loses to its own structure: a block loads a tile of keys, waits for it, then
// computes on it with nothing in flight, and its registers allow two blocks per multiprocessor.
// The staged kernel streams each block's keys and values through a ring of shared-memory stages
// instead (cp.async), so the copies of the next stages run while the current one is computed,
// and multiplies on the tensor cores (the group's q heads are the rows of one tile): its CUDA
// cores do only the softmax. It waits for the kernel ahead before its first copy (the newest row
// is in its last stage): at these batch sizes nothing is gained by loading earlier. Both kernels
// share the block's key range and the merges.
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
#include "cuda/kernels/attention/element_pair.cuh"
#include "cuda/kernels/attention/padded_rows.cuh"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/tensor_core.cuh"

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
// The quad holding dim d (at component d % 4): quad_first_dim's inverse.
__host__ __device__ constexpr int quad_of_dim(int d) {
  return (d % 8) / 4 * kLanesPerKey + d / 8;
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

// Where a block's keys are: its (sequence, kv head, q heads) and its share of the sequence's
// length. Everything here comes from the host or from earlier steps, so it may be read before
// the wait for the kernel ahead.
struct BlockKeys {
  int b, kvh, first_head, block_heads;
  int keys;             // this block's keys (may be 0)
  int newest;           // the newest key in this block's numbering (outside [0, keys) if elsewhere)
  int64_t head_offset;  // element offset of the block's first key row in one layer's K (and V)
};

template <int kGroup>
__device__ __forceinline__ BlockKeys block_keys(const DecodeAttentionParams& p) {
  // The cluster spans gridDim.x, so the block's rank in it is blockIdx.x; blockIdx.y runs over
  // the blocks of q heads, gridDim.y / kv_heads of them per kv head.
  const int split = blockIdx.x, splits = gridDim.x, b = blockIdx.z;
  const int blocks_per_kv_head = gridDim.y / p.kv_heads, kvh = blockIdx.y / blocks_per_kv_head;
  const int group = p.heads / p.kv_heads;
  const int len = min(max(p.seq_len[b], 0), p.max_seq);
  const int per_split = (len + splits - 1) / splits;
  const int begin = min(len, split * per_split);
  BlockKeys k;
  k.b = b;
  k.kvh = kvh;
  k.block_heads = min(kGroup, group);
  k.first_head = kvh * group + (blockIdx.y % blocks_per_kv_head) * kGroup;
  k.keys = min(len, begin + per_split) - begin;
  k.newest = len - 1 - begin;
  k.head_offset = p.kv().offset(p.slot_of_seq[b], kvh, begin);
  return k;
}

// q of the block's heads, in log2 units of the scores; heads past the real group get zeros.
template <typename T, int kGroup, bool kVec>
__device__ __forceinline__ void load_q(const DecodeAttentionParams& p, const BlockKeys& bk, int d0,
                                       float scale_log2, float (&q)[kGroup][kDimsPerLane]) {
  const T* q_head = static_cast<const T*>(p.q) +
                    (static_cast<int64_t>(bk.b) * p.heads + bk.first_head) * p.head_dim;
  uint4 raw[kGroup];
#pragma unroll
  for (int g = 0; g < kGroup; ++g)
    raw[g] = g < bk.block_heads ? load_row_piece<T, kVec>(q_head + g * p.head_dim, d0, p.head_dim)
                                : make_uint4(0, 0, 0, 0);
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    unpack8<T>(raw[g], q[g]);
#pragma unroll
    for (int i = 0; i < kDimsPerLane; ++i) q[g][i] *= scale_log2;
  }
}

// One half-warp's online softmax state over its keys; every lane of a half holds the same max
// and sum, and its own 8 dims of each head's output.
template <int kGroup>
struct HalfWarpSoftmax {
  float run_max[kGroup], run_sum[kGroup], acc[kGroup][kDimsPerLane];

  __device__ __forceinline__ HalfWarpSoftmax() {
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
      run_max[g] = kNegInf;
      run_sum[g] = 0.0f;
#pragma unroll
      for (int i = 0; i < kDimsPerLane; ++i) acc[g][i] = 0.0f;
    }
  }

  // Folds in kTile keys of this half-warp, key j being tile0 + j * kHalves + half (keys at or
  // past `keys` count as -inf). `keys` is uniform over the block, so every lane runs the same
  // iterations (full-mask shuffles).
  template <typename T, int kTile>
  __device__ __forceinline__ void attend(const uint4 (&k_raw)[kTile], const uint4 (&v_raw)[kTile],
                                         int tile0, int keys, int half,
                                         const float (&q)[kGroup][kDimsPerLane]) {
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
};

// The partial results of `parts` pieces of the block (half-warps, or warps in the staged kernel)
// sit in sh.half_*[part]; combines them into the block's partial in sh.block_*. The caller
// synchronises the block before.
template <int kGroup>
__device__ __forceinline__ void combine_parts(DecodeShared<kGroup>& sh, int parts, int tid) {
  for (int item = tid; item < kGroup * kQuads; item += kThreads) {
    const int g = item / kQuads, quad = item % kQuads;
    float best = kNegInf;
    for (int h = 0; h < parts; ++h) best = fmaxf(best, sh.half_max[h][g]);
    float4 total = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float sum = 0.0f;
    if (best != kNegInf) {
      for (int h = 0; h < parts; ++h) {
        const float weight = exp2f(sh.half_max[h][g] - best);  // 0 for an empty part
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
}

// Half-warps -> the block's partial result in sh.block_*.
template <int kGroup>
__device__ __forceinline__ void merge_half_warps(const HalfWarpSoftmax<kGroup>& state,
                                                 DecodeShared<kGroup>& sh, int tid) {
  const int half = tid / kLanesPerKey, lane16 = tid % kLanesPerKey;
#pragma unroll
  for (int g = 0; g < kGroup; ++g) {
    const float(&acc)[kDimsPerLane] = state.acc[g];
    sh.half_acc[half][g][lane16] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    sh.half_acc[half][g][kLanesPerKey + lane16] = make_float4(acc[4], acc[5], acc[6], acc[7]);
    if (lane16 == 0) {
      sh.half_max[half][g] = state.run_max[g];
      sh.half_sum[half][g] = state.run_sum[g];
    }
  }
  __syncthreads();
  combine_parts(sh, kHalves, tid);
}

// Blocks -> output: every block's partial is visible after the cluster barrier; block `split`
// merges its slice of the group's quads from all blocks' shared memory and writes it.
template <typename T, int kGroup, bool kVec>
__device__ __forceinline__ void merge_blocks_and_store(const DecodeAttentionParams& p,
                                                       const BlockKeys& bk,
                                                       DecodeShared<kGroup>& sh, int tid) {
  cg::cluster_group cluster = cg::this_cluster();
  const int split = blockIdx.x, splits = gridDim.x, hd = p.head_dim;
  cluster.sync();
  constexpr int kAllQuads = kGroup * kQuads;
  const int slice = (kAllQuads + splits - 1) / splits;
  const int slice_end = min(kAllQuads, (split + 1) * slice);
  auto* out = static_cast<T*>(p.out) + (static_cast<int64_t>(bk.b) * p.heads + bk.first_head) * hd;
  for (int item = split * slice + tid; item < slice_end; item += kThreads) {
    const int g = item / kQuads, quad = item % kQuads, first = quad_first_dim(quad);
    if (first >= hd || g >= bk.block_heads) continue;
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
  const int tid = threadIdx.x, half = tid / kLanesPerKey;
  const int hd = p.head_dim, d0 = (tid % kLanesPerKey) * kDimsPerLane;

  // Before the wait (see the file comment): every key row but the newest was written by earlier
  // steps, so none of them depends on the previous kernel.
  const BlockKeys bk = block_keys<kGroup>(p);
  const T* k_rows = static_cast<const T*>(p.k_cache) + bk.head_offset;
  const T* v_rows = static_cast<const T*>(p.v_cache) + bk.head_offset;
  uint4 k_raw[kTile], v_raw[kTile];
  auto load_keys = [&](int tile0, bool skip_newest) {
#pragma unroll
    for (int j = 0; j < kTile; ++j) {
      const int key = tile0 + j * kHalves + half;
      const bool load = key < bk.keys && !(skip_newest && key == bk.newest);
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
  load_q<T, kGroup, kVec>(p, bk, d0, scale_log2, q);
#pragma unroll
  for (int j = 0; j < kTile; ++j) {
    if (j * kHalves + half == bk.newest && bk.newest < bk.keys) {
      k_raw[j] = load_row_piece<T, kVec>(k_rows + static_cast<int64_t>(bk.newest) * hd, d0, hd);
      v_raw[j] = load_row_piece<T, kVec>(v_rows + static_cast<int64_t>(bk.newest) * hd, d0, hd);
    }
  }

  // The first tile is loaded above; later ones (long sequences) after the wait, newest included.
  HalfWarpSoftmax<kGroup> state;
  for (int tile0 = 0; tile0 < bk.keys; tile0 += kTileKeys) {
    if (tile0 > 0) load_keys(tile0, false);
    state.template attend<T, kTile>(k_raw, v_raw, tile0, bk.keys, half, q);
  }
  merge_half_warps(state, sh, tid);
  merge_blocks_and_store<T, kGroup, kVec>(p, bk, sh, tid);
}

// The staged kernel. Its q heads (the whole group, <= 8) are the rows of a 16-row tensor-core
// tile (the rest zeros), so S = Q Kᵀ and O += P V run on mma.sync m16n8k16 and the CUDA cores
// only do the softmax: per key the register kernel spends ~120 instructions a half-warp (dot
// products, 16-lane shuffle reductions), which at 8 warps per multiprocessor held the kernel
// to ~2 TB/s. Keys stream through a ring of kStages stages of kStageKeys rows (cp.async,
// rows padded by 16 bytes so that ldmatrix spreads over all banks); each of the 4 warps takes
// 16 keys of a stage with its own online softmax, and the warps' results merge like the
// half-warps' of the register kernel.
constexpr int kStageKeys = 64;  // 16 per warp: one k-step of P V
constexpr int kStages = 3;
constexpr int kStagedWarps = kThreads / 32;

template <int kHeadDim>
struct StagedLayout {
  static constexpr int kStride = padded_row_elems(kHeadDim);
  static constexpr int kQElems = 16 * kStride;                  // the 16-row Q tile
  static constexpr int kStageElems = 2 * kStageKeys * kStride;  // K rows, then V rows
  static constexpr size_t kRingBytes = size_t{kQElems + kStages * kStageElems} * 2;
};

template <int kGroup, int kHeadDim>
__host__ __device__ constexpr size_t staged_shared_bytes() {
  constexpr size_t ring = StagedLayout<kHeadDim>::kRingBytes;
  return ring > sizeof(DecodeShared<kGroup>) ? ring : sizeof(DecodeShared<kGroup>);
}

// Needs 16-byte aligned tensors (checked by the launcher) and serves the whole group of a kv
// head in one block (keys are read once).
template <typename T, int kGroup, int kHeadDim>
__global__ void __launch_bounds__(kThreads, 2)
    decode_attention_staged_kernel(DecodeAttentionParams p, float scale_log2) {
  using Layout = StagedLayout<kHeadDim>;
  constexpr int kStride = Layout::kStride;
  constexpr int kDimSteps = kHeadDim / 16;  // k-steps of Q Kᵀ
  constexpr int kDimTiles8 = kHeadDim / 8;  // n-tiles of P V
  extern __shared__ __align__(128) unsigned char staged_shared[];
  T* q_tile = reinterpret_cast<T*>(staged_shared);
  auto stage_of = [&](int tile) {
    return q_tile + Layout::kQElems + (tile % kStages) * Layout::kStageElems;
  };
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const BlockKeys bk = block_keys<kGroup>(p);
  const T* k_rows = static_cast<const T*>(p.k_cache) + bk.head_offset;
  const T* v_rows = static_cast<const T*>(p.v_cache) + bk.head_offset;
  const int tiles = (bk.keys + kStageKeys - 1) / kStageKeys;
  // Keys (then values) [first, first + kStageKeys) into a stage; rows past the block's keys
  // become zeros (their weights are 0, and 0 x garbage could be NaN).
  auto load_stage = [&](T* stage, int first) {
    load_padded_rows<kHeadDim, kStageKeys, kThreads>(stage, k_rows, kHeadDim, first, bk.keys);
    load_padded_rows<kHeadDim, kStageKeys, kThreads>(stage + kStageKeys * kStride, v_rows, kHeadDim,
                                                     first, bk.keys);
  };

  // Every stage may hold the newest row, and q comes from the kernel ahead.
  wait_for_previous_kernel();
  allow_next_kernel();

  const T* q_head = static_cast<const T*>(p.q) +
                    (static_cast<int64_t>(bk.b) * p.heads + bk.first_head) * kHeadDim;
  load_padded_rows<kHeadDim, 16, kThreads>(q_tile, q_head, kHeadDim, 0, bk.block_heads);
  // Groups of copies: stage t is group t (Q rides with stage 0); empty groups keep the count.
#pragma unroll
  for (int t = 0; t < kStages - 1; ++t) {
    if (t < tiles) {
      T* stage = stage_of(t);
      load_stage(stage, t * kStageKeys);
    }
    cp_async_commit();
  }

  uint32_t q_frag[kDimSteps][4];
  float out_acc[kDimTiles8][4];
#pragma unroll
  for (int t = 0; t < kDimTiles8; ++t)
#pragma unroll
    for (int e = 0; e < 4; ++e) out_acc[t][e] = 0.0f;
  // A lane holds rows lane/4 (elements 0, 1) and lane/4 + 8 (2, 3, always padding: kGroup <= 8).
  float row_max = kNegInf, row_sum = 0.0f;

  for (int tile = 0; tile < tiles; ++tile) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage `tile` has landed for all; stage tile - 1 is read by all
    if (tile + kStages - 1 < tiles) {
      T* stage = stage_of(tile + kStages - 1);
      const int first = (tile + kStages - 1) * kStageKeys;
      load_stage(stage, first);
    }
    cp_async_commit();
    if (tile == 0) {
#pragma unroll
      for (int s = 0; s < kDimSteps; ++s)
        ldmatrix_x4(q_frag[s], q_tile + (lane & 15) * kStride + s * 16 + (lane >> 4) * 8);
    }
    const int key0 = tile * kStageKeys + warp * 16;  // this warp's 16 keys
    if (key0 >= bk.keys) continue;                   // (no barrier follows in this iteration)
    const T* k_stage = stage_of(tile) + warp * 16 * kStride;
    const T* v_stage = k_stage + kStageKeys * kStride;

    // S = Q Kᵀ for 16 keys: two 16x8 accumulator tiles.
    float score[2][4] = {};
#pragma unroll
    for (int s = 0; s < kDimSteps; ++s) {
      uint32_t kb[4];  // keys 0..7 (dims lo, hi), keys 8..15 (dims lo, hi)
      ldmatrix_x4(kb, k_stage + ((lane & 7) + ((lane >> 4) << 3)) * kStride + s * 16 +
                          ((lane >> 3) & 1) * 8);
      mma_16x8x16<T>(score[0], q_frag[s], kb[0], kb[1]);
      mma_16x8x16<T>(score[1], q_frag[s], kb[2], kb[3]);
    }
    if (key0 + 16 > bk.keys) {
#pragma unroll
      for (int t = 0; t < 2; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e)
          if (key0 + t * 8 + 2 * (lane % 4) + (e & 1) >= bk.keys) score[t][e] = kNegInf;
    }
    // Online softmax of row lane/4 (the four lanes of a quad share it); the padding rows'
    // elements are exponentiated too (finite, never read).
    float tile_max = fmaxf(fmaxf(score[0][0], score[0][1]), fmaxf(score[1][0], score[1][1]));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
    const float new_max = fmaxf(row_max, tile_max);
    const float reference = new_max * scale_log2;  // finite: this warp has a valid key here
    const float correction = exp2f(row_max * scale_log2 - reference);
    row_max = new_max;
    float partial = 0.0f;
#pragma unroll
    for (int t = 0; t < 2; ++t) {
      score[t][0] = exp2f(fmaf(score[t][0], scale_log2, -reference));
      score[t][1] = exp2f(fmaf(score[t][1], scale_log2, -reference));
      score[t][2] = 0.0f;  // padding rows
      score[t][3] = 0.0f;
      partial += score[t][0] + score[t][1];
    }
    row_sum = row_sum * correction + partial;  // quad-reduced at the end
#pragma unroll
    for (int t = 0; t < kDimTiles8; ++t) {
      out_acc[t][0] *= correction;
      out_acc[t][1] *= correction;
    }
    // O += P V: the two score tiles are the A fragment of one 16-key step.
    const uint32_t p_frag[4] = {
        pack_pair<T>(score[0][0], score[0][1]), pack_pair<T>(score[0][2], score[0][3]),
        pack_pair<T>(score[1][0], score[1][1]), pack_pair<T>(score[1][2], score[1][3])};
#pragma unroll
    for (int t = 0; t < kDimTiles8; t += 2) {
      uint32_t vb[4];  // keys lo/hi of dims t*8..+7, then of dims t*8+8..+15
      ldmatrix_x4_trans(
          vb, v_stage + ((lane & 7) + ((lane >> 3) & 1) * 8) * kStride + t * 8 + (lane >> 4) * 8);
      mma_16x8x16<T>(out_acc[t], p_frag, vb[0], vb[1]);
      mma_16x8x16<T>(out_acc[t + 1], p_frag, vb[2], vb[3]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the ring is free: the merge's DecodeShared reuses it

  // Warps -> parts of the merge, in log2 units of the scores like the register kernel's.
  auto& sh = *reinterpret_cast<DecodeShared<kGroup>*>(staged_shared);
  row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 1);
  row_sum += __shfl_xor_sync(0xffffffffu, row_sum, 2);
  const int row = lane / 4;
  if (row < kGroup) {
    if (lane % 4 == 0) {
      sh.half_max[warp][row] = row_max == kNegInf ? kNegInf : row_max * scale_log2;
      sh.half_sum[warp][row] = row_sum;
    }
    float* acc = reinterpret_cast<float*>(sh.half_acc[warp][row]);
#pragma unroll
    for (int t = 0; t < kDimTiles8; ++t)
#pragma unroll
      for (int e = 0; e < 2; ++e) {
        const int d = t * 8 + 2 * (lane % 4) + e;
        acc[4 * quad_of_dim(d) + d % 4] = out_acc[t][e];
      }
  }
  __syncthreads();
  combine_parts(sh, kStagedWarps, tid);
  merge_blocks_and_store<T, kGroup, true>(p, bk, sh, tid);
}

bool is_aligned16(const void* ptr) {
  return reinterpret_cast<uintptr_t>(ptr) % 16 == 0;
}

// One launch of either kernel: a cluster of `splits` blocks per (sequence, block of q heads).
// max_dynamic_shared: the most dynamic shared memory the kernel is ever launched with.
template <auto kKernel>
void launch_clusters(const DecodeAttentionParams& p, int splits, int blocks_per_kv_head,
                     size_t dynamic_shared, size_t max_dynamic_shared, int carveout,
                     cudaStream_t stream) {
  // Clusters above 8 blocks are "non-portable" and must be allowed, and more than 48 KB of
  // dynamic shared memory asked for, per kernel, once on each device (a function's attributes
  // belong to the device's context).
  static std::array<std::atomic<bool>, cuda::kMaxDevices> prepared{};
  const int device = cuda::current_device();
  if (!prepared[device].load(std::memory_order_relaxed)) {
    GLMASR_CUDA_CHECK(
        cudaFuncSetAttribute(kKernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    if (max_dynamic_shared > 0)
      GLMASR_CUDA_CHECK(cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(max_dynamic_shared)));
    prepared[device].store(true, std::memory_order_relaxed);
  }
  cudaLaunchConfig_t config{};
  config.gridDim = dim3(splits, p.kv_heads * blocks_per_kv_head, p.batch);
  config.blockDim = dim3(kThreads);
  config.dynamicSmemBytes = dynamic_shared;
  config.stream = stream;
  cudaLaunchAttribute attributes[3]{};
  attributes[0].id = cudaLaunchAttributeClusterDimension;
  attributes[0].val.clusterDim.x = splits;
  attributes[0].val.clusterDim.y = 1;
  attributes[0].val.clusterDim.z = 1;
  // The kernels wait for the previous grid themselves (griddepcontrol.wait), so they may be
  // launched before that grid ends; in a captured graph this becomes a programmatic edge.
  cudaLaunchAttribute dependent[2];
  const unsigned more = dependent_launch_attributes(carveout, dependent);
  for (unsigned i = 0; i < more; ++i) attributes[1 + i] = dependent[i];
  config.attrs = attributes;
  config.numAttrs = 1 + more;
  GLMASR_CUDA_CHECK(cudaLaunchKernelEx(&config, kKernel, p, p.scale * static_cast<float>(M_LOG2E)));
}

// The kernels' instances: a block serves 1, 2, 4 or 8 q heads (the group rounded up).
template <typename T, int kGroup, bool kVec>
void launch_registers(const DecodeAttentionParams& p, int splits, int blocks, cudaStream_t stream) {
  launch_clusters<decode_attention_kernel<T, kGroup, kVec>>(p, splits, blocks, 0, 0,
                                                            p.shared_carveout, stream);
}

// The staged kernel serves the whole group in each block. It asks for all of the shared memory
// (the carveout the step's other kernels suggest would leave room for one block).
template <typename T, int kGroup, int kHeadDim>
void launch_staged_shape(const DecodeAttentionParams& p, int splits, cudaStream_t stream) {
  constexpr size_t kBytes = staged_shared_bytes<kGroup, kHeadDim>();
  launch_clusters<decode_attention_staged_kernel<T, kGroup, kHeadDim>>(
      p, splits, 1, kBytes, kBytes, cudaSharedmemCarveoutMaxShared, stream);
}

template <typename T, int kHeadDim>
void launch_staged_group(const DecodeAttentionParams& p, int splits, cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  if (group == 1) return launch_staged_shape<T, 1, kHeadDim>(p, splits, stream);
  if (group == 2) return launch_staged_shape<T, 2, kHeadDim>(p, splits, stream);
  if (group <= 4) return launch_staged_shape<T, 4, kHeadDim>(p, splits, stream);
  return launch_staged_shape<T, 8, kHeadDim>(p, splits, stream);
}

// heads_per_block: the whole group (rounded up to the kernel's 1, 2, 4 or 8) or a divisor of it.
template <typename T, bool kVec>
void launch_decode_for_heads(const DecodeAttentionParams& p, int splits, int heads_per_block,
                             cudaStream_t stream) {
  const int group = p.heads / p.kv_heads;
  const int blocks = heads_per_block < group ? group / heads_per_block : 1;
  const int heads = std::min(heads_per_block, group);
  if (heads == 1) return launch_registers<T, 1, kVec>(p, splits, blocks, stream);
  if (heads == 2) return launch_registers<T, 2, kVec>(p, splits, blocks, stream);
  if (heads <= 4) return launch_registers<T, 4, kVec>(p, splits, blocks, stream);
  return launch_registers<T, 8, kVec>(p, splits, blocks, stream);
}

template <typename T>
void launch_staged(const DecodeAttentionParams& p, int splits, cudaStream_t stream) {
  if (p.head_dim == 64) return launch_staged_group<T, 64>(p, splits, stream);
  return launch_staged_group<T, 128>(p, splits, stream);
}

bool rows_aligned16(const DecodeAttentionParams& p) {
  return p.head_dim % 8 == 0 && is_aligned16(p.q) && is_aligned16(p.k_cache) &&
         is_aligned16(p.v_cache) && is_aligned16(p.out);
}

bool staged_supported(const DecodeAttentionParams& p) {
  return (p.head_dim == 64 || p.head_dim == 128) && rows_aligned16(p);
}

void launch_staged_checked(const DecodeAttentionParams& p, int splits, cudaStream_t stream) {
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, { launch_staged<T>(p, splits, stream); });
  GLMASR_CUDA_CHECK_LAUNCH();
}

void launch_decode_checked(const DecodeAttentionParams& p, int splits, int heads_per_block,
                           cudaStream_t stream) {
  const bool vec = rows_aligned16(p);
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

bool decode_attention_staged(const DecodeAttentionParams& p) {
  // The register kernel loads its first keys before the wait for the kernel ahead, which is what
  // decides a step of a few sequences; from a grid of a quarter block per multiprocessor (before
  // splits) bytes decide, and the staged kernel moves them faster. Measured on the H200 at 450
  // keys, 16/4 heads x 128, us per layer in a 28-layer graph (registers / staged, each with
  // decode_attention_splits): batch 16 10.9 / 8.6, 32 18.8 / 12.5, 64 26.1 / 21.3, 128 50.4 /
  // 39.5, 256 97.2 / 73.2.
  return staged_supported(p) && 4 * static_cast<int64_t>(p.batch) * p.kv_heads >= sm_count();
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
  if (decode_attention_staged(p)) return launch_staged_checked(p, splits, stream);
  launch_decode_checked(
      p, splits, decode_attention_heads_per_block(p.batch, p.heads, p.kv_heads, splits), stream);
}

namespace detail {
DecodeKernel decode_attention_kernel(const DecodeAttentionParams& p) {
  return attention_internal::decode_attention_staged(p) ? DecodeKernel::kStaged
                                                        : DecodeKernel::kRegisters;
}

void decode_attention_with_splits(const DecodeAttentionParams& p, int splits, cudaStream_t stream,
                                  int heads_per_block, DecodeKernel kernel) {
  using namespace attention_internal;
  check_decode_params(p);
  GLMASR_CHECK(splits >= 1 && splits <= kMaxSplits,
               "decode_attention_with_splits: splits: expected 1..", kMaxSplits, ", got ", splits);
  const int group = p.heads / p.kv_heads;
  if (kernel == DecodeKernel::kStaged) {
    GLMASR_CHECK(staged_supported(p),
                 "decode_attention_with_splits: the staged kernel expects head_dim 64 or 128 and "
                 "16-byte aligned tensors, got head_dim ",
                 p.head_dim);
    GLMASR_CHECK(heads_per_block == 0 || heads_per_block >= group,
                 "decode_attention_with_splits: the staged kernel serves the whole group of ",
                 group, " q heads in a block, got heads_per_block ", heads_per_block);
    return launch_staged_checked(p, splits, stream);
  }
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
