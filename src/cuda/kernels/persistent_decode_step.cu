#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include "core/error.h"
#include "core/strings.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/argmax_running.cuh"
#include "cuda/kernels/async_copy.cuh"
#include "cuda/kernels/e4m3.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/fed_token.cuh"
#include "cuda/kernels/persistent_decode_step.h"
#include "cuda/kernels/persistent_step_rows.h"
#include "cuda/kernels/tensor_core.cuh"

namespace glmasr::cuda {
namespace {

using persistent_step::BlockRows;
using persistent_step::kMaxStageRows;
using persistent_step::kPhasesPerLayer;
using persistent_step::kStageBytes;
using persistent_step::Phase;
using persistent_step::phase_number;
using persistent_step::StageWalk;

constexpr int kConsumerWarps = 8;
constexpr int kConsumerThreads = kConsumerWarps * 32;
constexpr int kThreads = kConsumerThreads + 32;  // + the producer warp (one lane streams)
// The ring: kStages stages of kStageBytes (persistent_step_rows.h). 216 KB of ring is ~7 us of
// one SM's share of HBM3e, meant to cover a phase boundary; 9 stages and the rest fill the 227 KB
// an SM gives one block. (Measured on the H200: each phase's fixed work, ~4-5 us of input loads,
// norm, epilogue and barriers, still leaves DRAM idle behind a full ring: docs/performance.md,
// session 9. Prefetching the stages ahead of the ring into L2 to keep DRAM busy made the step
// slower on the H100, 13% at a lead of 4 stages, 16% at 8: session 20.)
constexpr int kStages = 9;
// Output rows whose epilogue runs together, after one barrier of the consumers (a barrier per
// stage, with warp 0's epilogue and its residual loads on every stage's path, cost a third of
// the step's time).
constexpr int kGroupRows = 64;
// Inputs a consumer lane multiplies: chunks of 8 at c = warp * 32 + lane + j * 256, j < this.
constexpr int kMaxChunksPerLane = 4;
constexpr int64_t kMaxInput = int64_t{kMaxChunksPerLane} * kConsumerThreads * 8;
// Attention: a (q head, key split) item per block, 16 half-warps per item, a half-warp per key
// (lane i of it holds dims 8i..8i+7), kKeyTile keys per half-warp loaded at once.
constexpr int kMaxHeadDim = 128;
constexpr int kHalves = kConsumerThreads / 16;
constexpr int kKeyTile = 4;
constexpr int kMaxSplits = 8;
constexpr int kPartStride = kMaxHeadDim + 4;  // floats per partial: output, max, sum, padding
// Timeline entries per block and phase: inputs ready, done, ns thread 0 waited for ring stages,
// when the producer issued the phase's first stage.
constexpr int kTimelineEntries = 4;
constexpr int kConsumerBarrier = 1;  // named barrier of the consumer warps (0 is __syncthreads)

struct StepShared {
  uint64_t full[kStages];   // stage filled: the producer's expect_tx, completed by the copies
  uint64_t empty[kStages];  // stage read: one arrival per consumer warp
  union {
    // Projections: per-warp row sums of a group of up to kGroupRows output rows (and their up
    // rows for gate|up), double-buffered: one group's epilogue runs beside the next's products.
    struct {
      float sum[2][kConsumerWarps][kGroupRows];
      float up[2][kConsumerWarps][kGroupRows];
    } group;
    // Attention (between two projections, each side of a consumer barrier): the half-warps'
    // online-softmax states.
    struct {
      float max[kHalves], sum[kHalves];
      float4 acc[kHalves][kMaxHeadDim / 4];
    } halves;
  };
  RunningArgmax pick_of_warp[2];
  const int* counters;  // the workspace's, for the timeline's phase numbers
  uint64_t* timeline;   // PersistentStepParams::timeline
  int phases;
  float norm_partial[kConsumerWarps];
};
constexpr size_t kRingOffset = (sizeof(StepShared) + 127) / 128 * 128;
constexpr size_t kSharedBytes = kRingOffset + size_t{kStages} * kStageBytes;
static_assert(kSharedBytes <= 227 * 1024, "one block's shared memory on sm_90");

// ---- PTX: the consumers' barrier, the phase counters (mbarriers and copies: async_copy.cuh) ----

__device__ __forceinline__ void consumer_sync() {
  asm volatile("bar.sync %0, %1;" ::"n"(kConsumerBarrier), "n"(kConsumerThreads) : "memory");
}

// The block's stores before it (ordered by the consumers' barrier) are visible to whoever
// acquires the counter after the add.
__device__ __forceinline__ void red_release_add(int* p, int v) {
  asm volatile("red.release.gpu.global.add.s32 [%0], %1;" ::"l"(p), "r"(v) : "memory");
}

__device__ __forceinline__ int load_acquire(const int* p) {
  int v;
  asm volatile("ld.acquire.gpu.global.s32 %0, [%1];" : "=r"(v) : "l"(p) : "memory");
  return v;
}

extern __shared__ __align__(128) std::byte dynamic_shared[];

__device__ __forceinline__ StepShared& step_shared() {
  return *reinterpret_cast<StepShared*>(dynamic_shared);
}

__device__ __forceinline__ uint64_t global_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// Bench only (PersistentStepParams::timeline): entry `which` of phase `phase` for this block.
__device__ __forceinline__ void stamp(int phase, int which, uint64_t value) {
  const StepShared& sh = step_shared();
  if (sh.timeline)
    sh.timeline[(int64_t{blockIdx.x} * sh.phases + phase) * kTimelineEntries + which] = value;
}
__device__ __forceinline__ void stamp(int phase, int which) {
  if (threadIdx.x == 0) stamp(phase, which, global_ns());
}

// A phase's completion counter reaches gridDim.x when every block has finished it.
__device__ __forceinline__ void wait_phase(const int* counter) {
  if (threadIdx.x == 0) {
    while (load_acquire(counter) < static_cast<int>(gridDim.x)) {
    }
  }
  consumer_sync();
  stamp(static_cast<int>(counter - step_shared().counters) + 1, 0);
}

// Every consumer's stores of the phase come before the counter's increment.
__device__ __forceinline__ void finish_phase(int* counter) {
  consumer_sync();
  stamp(static_cast<int>(counter - step_shared().counters), 1);
  if (threadIdx.x == 0) red_release_add(counter, 1);
}

// ---- the work list: which weight rows each block streams, phase by phase ------------------------

// The device scratch of one launch (persistent_decode_step_workspace_bytes).
struct Workspace {
  int* counters;         // [layers * kPhasesPerLayer + 1]: per phase, the blocks that finished it
  float* parts;          // [heads * splits, kPartStride]: attention partials
  RunningArgmax* picks;  // [blocks]: each block's greedy choice over its lm_head rows
};

__host__ __device__ inline size_t counters_bytes(int layers) {
  return (size_t(phase_number(layers, Phase::kHead) + 1) * sizeof(int) + 15) / 16 * 16;
}
__host__ __device__ inline size_t parts_bytes(int heads) {
  return size_t(heads) * kMaxSplits * kPartStride * sizeof(float);
}
__device__ inline Workspace workspace_of(const PersistentStepParams& p) {
  auto* base = static_cast<std::byte*>(p.workspace);
  const size_t counters = counters_bytes(p.layers);
  return {reinterpret_cast<int*>(base), reinterpret_cast<float*>(base + counters),
          reinterpret_cast<RunningArgmax*>(base + counters + parts_bytes(p.heads))};
}

// Key splits per q head: as many items as blocks, at most kMaxSplits.
__host__ __device__ inline int attention_splits(int heads, int blocks) {
  const int splits = blocks / heads;
  return splits < 1 ? 1 : (splits > kMaxSplits ? kMaxSplits : splits);
}

// Weights of type W (the element type T, or uint8_t: E4M3 codes with per-row scales).
template <typename W>
constexpr bool kCodes = std::is_same_v<W, uint8_t>;

// This block's rows of a phase (`layer` == p.layers with Phase::kHead for lm_head).
template <typename W>
__device__ BlockRows block_rows(const PersistentStepParams& p, int layer, Phase phase) {
  return persistent_step::block_rows(p, layer, phase, gridDim.x, blockIdx.x, sizeof(W));
}

// ---- the producer -----------------------------------------------------------------------------

template <typename W>
__device__ void produce(const PersistentStepParams& p, StepShared& sh, std::byte* ring) {
  // Weights are read once per step: first out of L2, so the KV cache and activations stay (the
  // activations' loads are each phase's critical path: without the hint the step took 1.56 ms
  // instead of 1.23 on the H200).
  const uint64_t policy = evict_first_policy();
  uint32_t it = 0;  // stages issued so far; the consumers count the same sequence
  for (StageWalk walk(p, gridDim.x, blockIdx.x, sizeof(W)); !walk.done(); walk.next(), ++it) {
    const int slot = static_cast<int>(it % kStages);
    const uint32_t round = it / kStages;
    if (round > 0) mbarrier_wait(&sh.empty[slot], (round - 1) & 1);
    const uint32_t bytes = walk.bytes();
    std::byte* dst = ring + static_cast<size_t>(slot) * kStageBytes;
    if (walk.stage() == 0 && sh.timeline)
      stamp(phase_number(walk.layer(), walk.phase()), 3, global_ns());
    mbarrier_expect_bytes(&sh.full[slot], walk.rows().up_rows ? 2 * bytes : bytes);
    bulk_copy(dst, walk.src(), bytes, &sh.full[slot], policy);
    if (walk.rows().up_rows)
      bulk_copy(dst + bytes, walk.src() + walk.up_offset(), bytes, &sh.full[slot], policy);
  }
}

// ---- the consumers: inputs ----------------------------------------------------------------------

// This lane's inputs of a projection, as floats: chunk j covers x[8c .. 8c + 8) with
// c = warp * 32 + lane + j * kConsumerThreads.
using LaneInputs = float[kMaxChunksPerLane][8];

__device__ __forceinline__ int64_t lane_chunk(int j) {
  return static_cast<int64_t>(threadIdx.x) + int64_t{j} * kConsumerThreads;
}

// What other blocks of this launch wrote is read from L2 (ld.cg): an SM's L1 is not coherent.
__device__ __forceinline__ uint4 load_coherent(const void* p) {
  return __ldcg(static_cast<const uint4*>(p));
}

// x := round(w_n * round(x * rsqrt(mean x^2 + eps))) over `in` inputs, as gemv's RMSNorm. The norm
// weight is loaded before waiting for `wait` (null: nothing to wait for); x from `x`, which this
// launch wrote (coherent) or not (the embedding row).
template <typename T>
__device__ void load_normed_inputs(const T* x, bool coherent, const T* norm_weight, int64_t in,
                                   float eps, const int* wait, StepShared& sh, LaneInputs& xf) {
  const int64_t chunks = in / 8;
  Vec8<T> nw[kMaxChunksPerLane];
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j)
    if (lane_chunk(j) < chunks) nw[j] = load8(norm_weight + lane_chunk(j) * 8);
  if (wait) wait_phase(wait);
  float squares = 0.0f;
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j) {
    if (lane_chunk(j) < chunks) {
      const T* src = x + lane_chunk(j) * 8;
      unpack8<T>(coherent ? load_coherent(src) : __ldg(reinterpret_cast<const uint4*>(src)), xf[j]);
#pragma unroll
      for (int i = 0; i < 8; ++i) squares = fmaf(xf[j][i], xf[j][i], squares);
    }
  }
  squares = warp_sum(squares);
  if (threadIdx.x % 32 == 0) sh.norm_partial[threadIdx.x / 32] = squares;
  consumer_sync();
  float sum = 0.0f;
#pragma unroll
  for (int w = 0; w < kConsumerWarps; ++w) sum += sh.norm_partial[w];
  const float inv_rms = rsqrtf(sum / static_cast<float>(in) + eps);
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j)
    if (lane_chunk(j) < chunks)
#pragma unroll
      for (int i = 0; i < 8; ++i)
        xf[j][i] = round_to<T>(to_float(nw[j].e[i]) * round_to<T>(xf[j][i] * inv_rms));
}

// The lane's chunks of an activation this launch wrote, after waiting for its phase.
template <typename T>
__device__ void load_inputs(const T* x, int64_t in, const int* wait, LaneInputs& xf) {
  wait_phase(wait);
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j)
    if (lane_chunk(j) < in / 8) unpack8<T>(load_coherent(x + lane_chunk(j) * 8), xf[j]);
}

// The attention output of the lane's chunks: the splits' partials of each q head merged (each
// chunk lies in one head: head_dim is a multiple of 16), rounded as decode attention rounds.
template <typename T>
__device__ void load_attention_output(const PersistentStepParams& p, const Workspace& work,
                                      int splits, const int* wait, LaneInputs& xf) {
  wait_phase(wait);
  const int hd = p.head_dim;
  const int64_t chunks = int64_t{p.heads} * hd / 8;
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j) {
    if (lane_chunk(j) >= chunks) continue;
    const int column = static_cast<int>(lane_chunk(j) * 8);
    const int head = column / hd, d = column % hd;
    // Two passes with every split's loads of a pass in flight together (they sit on the
    // phase's critical path): the maxima, then the sums and outputs, weighted as they arrive.
    const float* parts = work.parts + int64_t{head} * splits * kPartStride;
    float maxima[kMaxSplits];
    float best = -INFINITY;
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s) {
      maxima[s] = s < splits ? __ldcg(parts + s * kPartStride + kMaxHeadDim) : -INFINITY;
      best = fmaxf(best, maxima[s]);
    }
    float sum = 0.0f, acc[8] = {};
#pragma unroll
    for (int s = 0; s < kMaxSplits; ++s) {
      if (s >= splits) break;
      const float* part = parts + s * kPartStride;
      const float weight = exp2f(maxima[s] - best);  // 0 for a split without keys
      const float4 lo = __ldcg(reinterpret_cast<const float4*>(part + d));
      const float4 hi = __ldcg(reinterpret_cast<const float4*>(part + d + 4));
      sum = fmaf(weight, __ldcg(part + kMaxHeadDim + 1), sum);
      const float values[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[i] = fmaf(weight, values[i], acc[i]);
    }
    const float inv = 1.0f / sum;  // the newest key is always attended: sum >= 1
#pragma unroll
    for (int i = 0; i < 8; ++i) xf[j][i] = round_to<T>(acc[i] * inv);
  }
}

// ---- the consumers: a projection over the ring ----------------------------------------------

template <typename T>
__device__ __forceinline__ float dot8(const uint4& raw, const float (&x)[8], float acc) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    // A bf16 is the upper half of its float: widened by a shift or a mask, not a conversion
    // instruction (the consumers' arithmetic per weight is what bounds this kernel).
    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      acc = fmaf(__uint_as_float(words[k] << 16), x[2 * k], acc);
      acc = fmaf(__uint_as_float(words[k] & 0xffff0000u), x[2 * k + 1], acc);
    }
  } else {
    Vec8<T> v;
    v.raw = raw;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(to_float(v.e[i]), x[i], acc);
  }
  return acc;
}

// The same for 8 E4M3 codes: widened exactly, a pair per conversion, as the matrix-vector kernel
// widens them (the row's scale multiplies the sum in the epilogue).
template <typename T>
__device__ __forceinline__ float dot8(const uint2& raw, const float (&x)[8], float acc) {
  const uint32_t words[2] = {raw.x, raw.y};
  return dot_e4m3(words, x, acc);
}

// Sums each of acc[0..8) over the warp in 9 shuffles (8 warp_sums take 40): lane l ends with the
// total of row (l >> 2) & 7. Each step halves the rows a lane holds, exchanging half of them with
// the lane `offset` away.
__device__ __forceinline__ float reduce_rows_over_warp(const float (&acc)[kMaxStageRows]) {
  static_assert(kMaxStageRows == 8, "three halving steps");
  const int lane = threadIdx.x % 32;
  const bool upper16 = lane & 16, upper8 = lane & 8, upper4 = lane & 4;
  float four[4], two[2];
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float keep = upper16 ? acc[i + 4] : acc[i], send = upper16 ? acc[i] : acc[i + 4];
    four[i] = keep + __shfl_xor_sync(0xffffffffu, send, 16);
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const float keep = upper8 ? four[i + 2] : four[i], send = upper8 ? four[i] : four[i + 2];
    two[i] = keep + __shfl_xor_sync(0xffffffffu, send, 8);
  }
  float one =
      (upper4 ? two[1] : two[0]) + __shfl_xor_sync(0xffffffffu, upper4 ? two[0] : two[1], 4);
  one += __shfl_xor_sync(0xffffffffu, one, 2);
  one += __shfl_xor_sync(0xffffffffu, one, 1);
  return one;
}

// acc[q] += the lane's chunks of stage row q . x, for the first kRows rows of a stage (of
// stage_rows; kRows >= stage_rows). All kRows rows are read, a missing row of a phase's last
// stage as the last row present (its sum is dropped), so that a chunk's loads issue together.
// A chunk of a row is 8 weights: 16 bytes in the element type, 8 for codes.
template <typename T, typename W, int kRows>
__device__ __forceinline__ void stage_products(const std::byte* stage_bytes, int stage_rows,
                                               int64_t chunks, const LaneInputs& xf,
                                               float (&acc)[kMaxStageRows]) {
  static_assert(kRows <= kMaxStageRows, "a stage holds at most kMaxStageRows rows");
  using Chunk = std::conditional_t<kCodes<W>, uint2, uint4>;
  const auto* stage = reinterpret_cast<const Chunk*>(stage_bytes);
#pragma unroll
  for (int j = 0; j < kMaxChunksPerLane; ++j) {
    if (int64_t{j} * kConsumerThreads >= chunks) break;  // uniform: no lane has a chunk j
    const int64_t c = lane_chunk(j);
    const bool mine = c < chunks;
    const int64_t column = mine ? c : 0;
    Chunk raw[kRows];
#pragma unroll
    for (int q = 0; q < kRows; ++q) raw[q] = stage[min(q, stage_rows - 1) * chunks + column];
    if (mine)
#pragma unroll
      for (int q = 0; q < kRows; ++q) acc[q] = dot8<T>(raw[q], xf[j], acc[q]);
  }
}

// Multiplies the block's rows of one projection, stage by stage, and calls
// epilogue(row, sum, up_sum) for every row (pair for gate|up, with the up row's sum), a group of
// up to kGroupRows rows at a time on consumer threads 0.., each thread's rows increasing. With
// codes the sums are the row's scale times the sum of code * input.
template <typename T, typename W, typename Epilogue>
__device__ void multiply(const BlockRows& r, int phase, const LaneInputs& xf, StepShared& sh,
                         const std::byte* ring, uint32_t& it, Epilogue&& epilogue) {
  // Thread t's row of the group from `first` (t < kGroupRows): its scales, loaded a group ahead
  // of the epilogue that reads them, so that their latency hides behind the group's products.
  float scale = 1.0f, up_scale = 1.0f;
  auto load_scales = [&](int64_t first) {
    if constexpr (kCodes<W>) {
      const int64_t n = first + threadIdx.x;
      if (threadIdx.x < kGroupRows && n < r.first + r.count) {
        scale = __ldg(r.scale + n);
        if (r.up_rows) up_scale = __ldg(r.scale + r.up_rows + n);
      }
    }
  };
  uint64_t waited = 0;  // timeline only
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t chunks = r.in / 8;
  const int stages = r.stages();
  const int full_stage_rows = r.up_rows ? 2 * r.per_stage : r.per_stage;
  int buffer = 0, in_group = 0;
  int64_t group_first = r.first;
  load_scales(group_first);
  for (int s = 0; s < stages; ++s, ++it) {
    const int slot = static_cast<int>(it % kStages);
    const int rows = r.rows_in(s), stage_rows = r.up_rows ? 2 * rows : rows;
    if (sh.timeline && threadIdx.x == 0) {
      const uint64_t before = global_ns();
      mbarrier_wait(&sh.full[slot], (it / kStages) & 1);
      waited += global_ns() - before;
    } else {
      mbarrier_wait(&sh.full[slot], (it / kStages) & 1);
    }
    const std::byte* stage = ring + static_cast<size_t>(slot) * kStageBytes;
    float acc[kMaxStageRows];
#pragma unroll
    for (int q = 0; q < kMaxStageRows; ++q) acc[q] = 0.0f;
    // The stage's row count as a constant where the phase's stages have 6 or 2 rows (the
    // model's widths in bf16; 8 or 4 in codes), so that every row's load of a chunk issues before
    // the first product.
    if (full_stage_rows == 6)
      stage_products<T, W, 6>(stage, stage_rows, chunks, xf, acc);
    else if (full_stage_rows == 4)
      stage_products<T, W, 4>(stage, stage_rows, chunks, xf, acc);
    else if (full_stage_rows == 2)
      stage_products<T, W, 2>(stage, stage_rows, chunks, xf, acc);
    else
      stage_products<T, W, kMaxStageRows>(stage, stage_rows, chunks, xf, acc);
    __syncwarp();
    if (lane == 0) mbarrier_arrive(&sh.empty[slot]);  // the stage may be refilled
    const float total = reduce_rows_over_warp(acc);
    const int q = (lane >> 2) & 7;
    if ((lane & 3) == 0 && q < stage_rows) {
      if (q < rows)
        sh.group.sum[buffer][warp][in_group + q] = total;
      else
        sh.group.up[buffer][warp][in_group + q - rows] = total;
    }
    in_group += rows;
    if (s + 1 < stages && in_group + r.rows_in(s + 1) <= kGroupRows) continue;
    consumer_sync();
    for (int t = threadIdx.x; t < in_group; t += kConsumerThreads) {
      float sum = 0.0f, up = 0.0f;
#pragma unroll
      for (int w = 0; w < kConsumerWarps; ++w) {
        sum += sh.group.sum[buffer][w][t];
        if (r.up_rows) up += sh.group.up[buffer][w][t];
      }
      epilogue(group_first + t, sum * scale, up * up_scale);
    }
    group_first += in_group;
    in_group = 0;
    buffer ^= 1;
    load_scales(group_first);
  }
  if (threadIdx.x == 0) stamp(phase, 2, waited);
}

// ---- the consumers: attention -----------------------------------------------------------------

template <typename T>
__device__ __forceinline__ uint4 pack(const float (&v)[8]) {
  Vec8<T> out;
#pragma unroll
  for (int i = 0; i < 8; ++i) out.e[i] = from_float<T>(v[i]);
  return out.raw;
}

// RoPE (half split) of the lane's 8 dims d0.. of a raw q/k head, given the 8 dims half a head
// away: q*cos + rotate_half(q)*sin with every product rounded, as gemv's epilogue.
template <typename T>
__device__ __forceinline__ void rotate(const float (&own)[8], const float (&other)[8],
                                       bool first_half, const float (&c)[8], const float (&s)[8],
                                       float (&out)[8]) {
#pragma unroll
  for (int i = 0; i < 8; ++i)
    out[i] = first_half ? round_to<T>(round_to<T>(own[i] * c[i]) - round_to<T>(other[i] * s[i]))
                        : round_to<T>(round_to<T>(own[i] * c[i]) + round_to<T>(other[i] * s[i]));
}

// The block's (q head, split) item of layer `layer`, if it has one: partial softmax results
// into work.parts. The keys before the newest were written by earlier steps and are loaded
// before waiting for the QKV phase.
template <typename T>
__device__ void attend(const PersistentStepParams& p, const Workspace& work, int layer, int splits,
                       int slot, int position, StepShared& sh) {
  const int* qkv_done = work.counters + phase_number(layer, Phase::kQkv);
  if (static_cast<int>(blockIdx.x) >= p.heads * splits) return;
  const int item = blockIdx.x, head = item / splits, split = item % splits;
  const int group = p.heads / p.kv_heads, kv_head = head / group;
  const int hd = p.head_dim, half_dim = hd / 2;
  const int len = position + 1;
  const int per_split = (len + splits - 1) / splits;
  const int begin = min(len, split * per_split);
  const int keys = min(len, begin + per_split) - begin;
  const int newest = len - 1 - begin;  // in this item's numbering
  const int tid = threadIdx.x, half = tid / 16, d0 = (tid % 16) * 8;
  const bool dims = d0 < hd;
  const int64_t rows_offset = p.kv.layer_offset(layer) + p.kv.offset(slot, kv_head, begin);
  T* k_rows = static_cast<T*>(p.k_cache) + rows_offset;
  const T* v_rows = static_cast<const T*>(p.v_cache) + rows_offset;

  uint4 k_raw[kKeyTile], v_raw[kKeyTile];
  auto load_old = [&](int tile0) {
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      const int key = tile0 + j * kHalves + half;
      const bool load = dims && key < keys && key != newest;
      k_raw[j] = load ? __ldg(reinterpret_cast<const uint4*>(k_rows + int64_t{key} * hd + d0))
                      : make_uint4(0, 0, 0, 0);
      v_raw[j] = load ? __ldg(reinterpret_cast<const uint4*>(v_rows + int64_t{key} * hd + d0))
                      : make_uint4(0, 0, 0, 0);
    }
  };
  load_old(0);
  float cos_d[8] = {}, sin_d[8] = {};
  if (dims) {
    const int64_t at = int64_t{position} * half_dim + d0 % half_dim;
    unpack8<T>(__ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(p.cos) + at)), cos_d);
    unpack8<T>(__ldg(reinterpret_cast<const uint4*>(static_cast<const T*>(p.sin) + at)), sin_d);
  }
  wait_phase(qkv_done);

  // q and the newest k, rotated; the newest v was written to the cache by the QKV phase.
  const T* qkv = static_cast<const T*>(p.qkv_out);
  const int other = (d0 + half_dim) % hd;
  float q[8] = {}, k_new[8] = {};
  uint4 k_new_raw = make_uint4(0, 0, 0, 0), v_new_raw = make_uint4(0, 0, 0, 0);
  const bool has_newest = newest >= 0 && newest < keys;
  if (dims) {
    float own[8], partner[8];
    const T* q_head = qkv + int64_t{head} * hd;
    unpack8<T>(load_coherent(q_head + d0), own);
    unpack8<T>(load_coherent(q_head + other), partner);
    rotate<T>(own, partner, d0 < half_dim, cos_d, sin_d, q);
    const float scale_log2 = 1.4426950408889634f / sqrtf(static_cast<float>(hd));
#pragma unroll
    for (int i = 0; i < 8; ++i) q[i] *= scale_log2;  // scores in log2 units
    if (has_newest) {
      const T* k_head = qkv + int64_t{p.heads + kv_head} * hd;
      unpack8<T>(load_coherent(k_head + d0), own);
      unpack8<T>(load_coherent(k_head + other), partner);
      rotate<T>(own, partner, d0 < half_dim, cos_d, sin_d, k_new);
      k_new_raw = pack<T>(k_new);
      v_new_raw = load_coherent(v_rows + int64_t{newest} * hd + d0);
      // One block per kv head writes the rotated key (the group's first q head).
      if (head % group == 0 && half == 0)
        *reinterpret_cast<uint4*>(k_rows + int64_t{newest} * hd + d0) = k_new_raw;
    }
  }
  auto take_newest = [&](int tile0) {
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j)
      if (tile0 + j * kHalves + half == newest && has_newest) {
        k_raw[j] = k_new_raw;
        v_raw[j] = v_new_raw;
      }
  };
  take_newest(0);

  // Per half-warp online softmax (every lane of a half holds the same max and sum).
  float run_max = -INFINITY, run_sum = 0.0f, acc[8] = {};
  for (int tile0 = 0; tile0 < keys; tile0 += kKeyTile * kHalves) {
    if (tile0 > 0) {
      load_old(tile0);
      take_newest(tile0);
    }
    float scores[kKeyTile];
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      float k_values[8];
      unpack8<T>(k_raw[j], k_values);
      float dot = 0.0f;
#pragma unroll
      for (int i = 0; i < 8; ++i) dot = fmaf(q[i], k_values[i], dot);
      scores[j] = dot;
    }
#pragma unroll
    for (int offset = 8; offset > 0; offset /= 2)
#pragma unroll
      for (int j = 0; j < kKeyTile; ++j)
        scores[j] += __shfl_xor_sync(0xffffffffu, scores[j], offset);
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      if (tile0 + j * kHalves + half >= keys) scores[j] = -INFINITY;
      tile_max = fmaxf(tile_max, scores[j]);
    }
    const float new_max = fmaxf(run_max, tile_max);
    const float base = new_max == -INFINITY ? 0.0f : new_max;  // no NaN for a half without keys
    const float rescale = exp2f(run_max - base);
    run_max = new_max;
    run_sum *= rescale;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc[i] *= rescale;
#pragma unroll
    for (int j = 0; j < kKeyTile; ++j) {
      const float weight = exp2f(scores[j] - base);
      run_sum += weight;
      float v_values[8];
      unpack8<T>(v_raw[j], v_values);
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[i] = fmaf(weight, v_values[i], acc[i]);
    }
  }

  // Half-warps -> the item's partial.
  if (dims) {
    sh.halves.acc[half][d0 / 4] = make_float4(acc[0], acc[1], acc[2], acc[3]);
    sh.halves.acc[half][d0 / 4 + 1] = make_float4(acc[4], acc[5], acc[6], acc[7]);
  }
  if (tid % 16 == 0) {
    sh.halves.max[half] = run_max;
    sh.halves.sum[half] = run_sum;
  }
  consumer_sync();
  if (tid < hd || tid == kMaxHeadDim) {
    float best = -INFINITY;
#pragma unroll
    for (int h = 0; h < kHalves; ++h) best = fmaxf(best, sh.halves.max[h]);
    float total = 0.0f, sum = 0.0f;
    if (best != -INFINITY) {
#pragma unroll
      for (int h = 0; h < kHalves; ++h) {
        const float weight = exp2f(sh.halves.max[h] - best);
        if (tid < hd)
          total = fmaf(weight, reinterpret_cast<const float*>(sh.halves.acc[h])[tid], total);
        sum = fmaf(weight, sh.halves.sum[h], sum);
      }
    }
    float* part = work.parts + int64_t{item} * kPartStride;
    if (tid < hd) {
      __stcg(part + tid, total);
    } else {
      __stcg(part + kMaxHeadDim, best);
      __stcg(part + kMaxHeadDim + 1, sum);
    }
  }
}

// ---- the kernel -------------------------------------------------------------------------------

template <typename T, typename W>
__device__ void consume(const PersistentStepParams& p, StepShared& sh, const std::byte* ring) {
  const Workspace work = workspace_of(p);
  const int splits = attention_splits(p.heads, gridDim.x);
  const int token = fed_token(p.token, {.follows = p.follows, .previous = p.out_token}, 0);
  const int slot = *p.slot, position = *p.position;
  const int hd = p.head_dim;
  const int64_t qkv_rows = int64_t{p.heads + p.kv_heads} * hd;  // q and k rows; v rows follow
  const KvLayout kv = p.kv;
  T* x = static_cast<T*>(p.x);
  T* qkv_out = static_cast<T*>(p.qkv_out);
  T* act = static_cast<T*>(p.act);
  uint32_t it = 0;
  LaneInputs xf;
  stamp(0, 0);
  auto counter = [&](int layer, Phase phase) { return work.counters + phase_number(layer, phase); };
  // x[n] = round(x[n] + round(sum)). The residual rows are complete two phases before each
  // residual phase (x changes in o_proj and down only), so with `ahead` the first group's thread t
  // loads its row first + t now, before the phase's wait.
  auto residual_adder = [&](const BlockRows& rows, bool ahead) {
    const bool held = ahead && threadIdx.x < rows.count;
    const float old_row = held ? to_float(__ldcg(x + rows.first + threadIdx.x)) : 0.0f;
    return [=](int64_t n, float sum, float) {
      const float old = held && n == rows.first + threadIdx.x ? old_row : to_float(__ldcg(x + n));
      x[n] = from_float<T>(old + round_to<T>(sum));
    };
  };

  for (int l = 0; l < p.layers; ++l) {
    const PersistentStepLayer& layer = p.layer[l];
    const int64_t layer_offset = kv.layer_offset(l);
    // QKV. Layer 0 reads the token's embedding row; block 0 also makes it the residual stream.
    if (l == 0) {
      const T* row = static_cast<const T*>(p.embed) + int64_t{token} * p.hidden;
      load_normed_inputs<T>(row, false, static_cast<const T*>(layer.attn_norm), p.hidden, p.eps,
                            nullptr, sh, xf);
      if (blockIdx.x == 0)
        for (int64_t c = threadIdx.x; c < p.hidden / 8; c += kConsumerThreads)
          reinterpret_cast<uint4*>(x)[c] = __ldg(reinterpret_cast<const uint4*>(row) + c);
    } else {
      load_normed_inputs<T>(x, true, static_cast<const T*>(layer.attn_norm), p.hidden, p.eps,
                            counter(l - 1, Phase::kDown), sh, xf);
    }
    multiply<T, W>(
        block_rows<W>(p, l, Phase::kQkv), phase_number(l, Phase::kQkv), xf, sh, ring, it,
        [&](int64_t n, float sum, float) {
          const T v = from_float<T>(sum);
          qkv_out[n] = v;
          if (n >= qkv_rows) {
            const int64_t vr = n - qkv_rows;
            static_cast<T*>(
                p.v_cache)[layer_offset + kv.offset(slot, static_cast<int>(vr / hd), position) +
                           vr % hd] = v;
          }
        });
    finish_phase(counter(l, Phase::kQkv));

    attend<T>(p, work, l, splits, slot, position, sh);
    finish_phase(counter(l, Phase::kAttention));

    // Not ahead in layer 0: its rows come from block 0's copy of the embedding, which a block
    // without an attention item has not waited for yet.
    const BlockRows out_rows = block_rows<W>(p, l, Phase::kOut);
    const auto add_to_residual = residual_adder(out_rows, l > 0);
    load_attention_output<T>(p, work, splits, counter(l, Phase::kAttention), xf);
    multiply<T, W>(out_rows, phase_number(l, Phase::kOut), xf, sh, ring, it, add_to_residual);
    finish_phase(counter(l, Phase::kOut));

    load_normed_inputs<T>(x, true, static_cast<const T*>(layer.mlp_norm), p.hidden, p.eps,
                          counter(l, Phase::kOut), sh, xf);
    multiply<T, W>(block_rows<W>(p, l, Phase::kGateUp), phase_number(l, Phase::kGateUp), xf, sh,
                   ring, it, [&](int64_t f, float gate_sum, float up_sum) {
                     const float g = round_to<T>(gate_sum), u = round_to<T>(up_sum);
                     act[f] = from_float<T>(round_to<T>(g / (1.0f + expf(-g))) * u);
                   });
    finish_phase(counter(l, Phase::kGateUp));

    const BlockRows down_rows = block_rows<W>(p, l, Phase::kDown);
    const auto add_to_down_residual = residual_adder(down_rows, true);
    load_inputs<T>(act, p.intermediate, counter(l, Phase::kGateUp), xf);
    multiply<T, W>(down_rows, phase_number(l, Phase::kDown), xf, sh, ring, it,
                   add_to_down_residual);
    finish_phase(counter(l, Phase::kDown));
  }

  // lm_head with the greedy choice: thread t keeps the choice over its rows (increasing).
  load_normed_inputs<T>(x, true, static_cast<const T*>(p.final_norm), p.hidden, p.eps,
                        counter(p.layers - 1, Phase::kDown), sh, xf);
  T* logits = static_cast<T*>(p.logits);
  RunningArgmax mine = RunningArgmax::empty();
  multiply<T, W>(block_rows<W>(p, p.layers, Phase::kHead), phase_number(p.layers, Phase::kHead), xf,
                 sh, ring, it, [&](int64_t n, float sum, float) {
                   const T v = from_float<T>(sum);
                   logits[n] = v;
                   mine.add(to_float(v), static_cast<int>(n));
                 });
  // Threads 0..kGroupRows-1 (warps 0 and 1) hold every row's choice: the block's choice, then the
  // last block to finish merges all of them and resets the counters for the next launch.
  static_assert(kGroupRows == 64, "the epilogue threads are warps 0 and 1");
  if (threadIdx.x < 64) {
    mine = warp_merge_argmax(mine);
    if (threadIdx.x % 32 == 0) sh.pick_of_warp[threadIdx.x / 32] = mine;
  }
  consumer_sync();
  if (threadIdx.x >= 32) return;
  mine = sh.pick_of_warp[0];
  mine.merge(sh.pick_of_warp[1]);
  int* head_done = counter(p.layers, Phase::kHead);
  int last = 0;
  if (threadIdx.x == 0) {
    volatile RunningArgmax* pick = work.picks + blockIdx.x;
    pick->max = mine.max;
    pick->index = mine.index;
    pick->sum = mine.sum;
    __threadfence();
    stamp(phase_number(p.layers, Phase::kHead), 1);
    last = atomicAdd(head_done, 1) == static_cast<int>(gridDim.x) - 1;
  }
  last = __shfl_sync(0xffffffffu, last, 0);
  if (!last) return;
  __threadfence();
  RunningArgmax all = RunningArgmax::empty();
  for (int b = threadIdx.x; b < static_cast<int>(gridDim.x); b += 32) {
    const volatile RunningArgmax* pick = work.picks + b;
    all.merge({pick->max, pick->index, pick->sum});
  }
  all = warp_merge_argmax(all);
  if (threadIdx.x == 0) {
    *p.out_token = all.index;
    *p.out_logprob = -logf(all.sum);
  }
  for (int i = threadIdx.x; i <= phase_number(p.layers, Phase::kHead); i += 32)
    work.counters[i] = 0;
}

template <typename T, typename W>
__global__ void __launch_bounds__(kThreads, 1)
    persistent_decode_step_kernel(const PersistentStepParams p) {
  StepShared& sh = step_shared();
  std::byte* ring = dynamic_shared + kRingOffset;
  if (threadIdx.x == 0) {
    sh.counters = workspace_of(p).counters;
    sh.timeline = p.timeline;
    sh.phases = phase_number(p.layers, Phase::kHead) + 1;
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(&sh.full[s], 1);
      mbarrier_init(&sh.empty[s], kConsumerWarps);
    }
    mbarrier_init_fence();
  }
  __syncthreads();
  if (threadIdx.x >= kConsumerThreads) {
    if (threadIdx.x == kConsumerThreads) produce<W>(p, sh, ring);
    return;
  }
  consume<T, W>(p, sh, ring);
}

// The launch's blocks: one per SM, all resident (checked once per device, with the opt-in to
// the shared memory).
template <typename T, typename W>
int resident_blocks() {
  // Per device: 0 not asked yet, -1 a block does not fit an SM, 1 it does.
  static std::array<std::atomic<int>, kMaxDevices> cached{};
  const int device = current_device();
  int fits = cached[device].load(std::memory_order_relaxed);
  if (fits == 0) {
    auto* kernel = persistent_decode_step_kernel<T, W>;
    GLMASR_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                           static_cast<int>(kSharedBytes)));
    int per_sm = 0;
    GLMASR_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreads, kSharedBytes));
    fits = per_sm > 0 ? 1 : -1;
    cached[device].store(fits, std::memory_order_relaxed);
  }
  return fits > 0 ? sm_count() : 0;
}

}  // namespace

bool persistent_decode_step_supported(const PersistentStepParams& p, std::string* why) {
  auto no = [&](std::string reason) {
    if (why) *why = std::move(reason);
    return false;
  };
  if (p.dtype != DType::kBF16 && p.dtype != DType::kF16) return no("expected bf16 or fp16 weights");
  if (p.layers < 1 || p.hidden < 8 || p.intermediate < 8 || p.heads < 1 || p.kv_heads < 1 ||
      p.vocab < 1)
    return no("expected positive layers, widths, heads and vocabulary");
  const int64_t q_width = int64_t{p.heads} * p.head_dim;
  for (const int64_t in : {int64_t{p.hidden}, int64_t{p.intermediate}, q_width})
    if (in % 8 != 0 || in > kMaxInput)
      return no(
          cat("expected input widths that are multiples of 8 up to ", kMaxInput, ", got ", in));
  const int64_t weight_bytes = p.fp8 ? 1 : 2;
  // The bulk copies move whole rows: 16-byte multiples at 16-byte-aligned addresses.
  for (const int64_t in : {int64_t{p.hidden}, int64_t{p.intermediate}, q_width})
    if (in * weight_bytes % 16 != 0)
      return no(cat("expected input widths whose rows are multiples of 16 bytes, got ", in,
                    p.fp8 ? " fp8 codes" : " elements"));
  if (int64_t{p.hidden} * weight_bytes * 2 > kStageBytes)
    return no(cat("expected a hidden width whose gate and up rows fit one ", kStageBytes,
                  "-byte stage, got ", p.hidden));
  if (p.head_dim % 16 != 0 || p.head_dim > kMaxHeadDim || p.heads % p.kv_heads != 0)
    return no(cat("expected head_dim a multiple of 16 up to ", kMaxHeadDim,
                  " and heads a multiple of kv_heads, got ", p.head_dim, ", ", p.heads, "/",
                  p.kv_heads));
  if (compute_capability() < 90) return no("expected a GPU of compute capability 9.0 or newer");
  // A block serves one attention item (q head, split) at most.
  if (p.heads > sm_count())
    return no(cat("expected at most one q head per SM (", sm_count(), "), got ", p.heads));
  int blocks = 0;
  GLMASR_DISPATCH_ELEMENT(
      p.dtype, T, { blocks = p.fp8 ? resident_blocks<T, uint8_t>() : resident_blocks<T, T>(); });
  if (blocks == 0)
    return no(cat("expected an SM to hold one block of ", kSharedBytes, " bytes of shared memory"));
  return true;
}

size_t persistent_decode_step_workspace_bytes(const PersistentStepParams& p) {
  return counters_bytes(p.layers) + parts_bytes(p.heads) +
         size_t(sm_count()) * sizeof(RunningArgmax);
}

int persistent_decode_step_blocks() {
  return sm_count();
}

int persistent_decode_step_phases(int layers) {
  return phase_number(layers, Phase::kHead) + 1;
}

int persistent_decode_step_timeline_entries() {
  return kTimelineEntries;
}

void persistent_decode_step(const PersistentStepParams& p, cudaStream_t stream) {
  std::string why;
  GLMASR_CHECK(persistent_decode_step_supported(p, &why), "persistent_decode_step: ", why);
  GLMASR_CHECK(p.layer && p.embed && p.final_norm && p.lm_head && p.cos && p.sin && p.k_cache &&
                   p.v_cache && p.token && p.slot && p.position && p.x && p.qkv_out && p.act &&
                   p.logits && p.out_token && p.out_logprob && p.workspace,
               "persistent_decode_step: expected every pointer set");
  GLMASR_CHECK(!p.fp8 || p.lm_head_scale, "persistent_decode_step: fp8 weights without scales");
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
    const int blocks = p.fp8 ? resident_blocks<T, uint8_t>() : resident_blocks<T, T>();
    GLMASR_CHECK(blocks > 0, "persistent_decode_step: a block of ", kSharedBytes,
                 " bytes of shared memory does not fit an SM of this device");
    cudaLaunchConfig_t config{};
    config.gridDim = dim3(static_cast<unsigned>(blocks));
    config.blockDim = dim3(kThreads);
    config.dynamicSmemBytes = kSharedBytes;
    config.stream = stream;
    // Cooperative: the blocks wait for each other at every phase, so all must be resident.
    cudaLaunchAttribute attribute{};
    attribute.id = cudaLaunchAttributeCooperative;
    attribute.val.cooperative = 1;
    config.attrs = &attribute;
    config.numAttrs = 1;
    GLMASR_CUDA_CHECK(cudaLaunchKernelEx(
        &config,
        p.fp8 ? persistent_decode_step_kernel<T, uint8_t> : persistent_decode_step_kernel<T, T>,
        p));
  });
}

}  // namespace glmasr::cuda
