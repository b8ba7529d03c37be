// Flash attention on Hopper's warpgroup MMA for head_dim 64 without a causal mask: the
// encoder's bidirectional attention over each window's 1500 frames (FlashAttention-3 layout).
//
// Persistent blocks, one per SM, walk work items (64 * kGroups query rows of one (batch, head)).
// In each block one lane of a producer warpgroup (which hands its registers to the consumers)
// loads Q and streams K/V tiles of 128 keys through tensor maps (TMA, 128-byte swizzle) into a
// ring of shared-memory stages, running ahead into the block's next item. kGroups consumer
// warpgroups each own 64 of the item's query rows and multiply straight out of shared memory:
// S = Q Kᵀ (wgmma, both operands from shared memory, fp32), the online softmax in registers
// (log2 domain, scale folded into the exponent, as the mma.sync kernel), then O += P V with P
// converted in registers as the A operand and V read transposed. Two schedules keep the tensor
// cores busy (docs/performance.md, session 10): the groups issue their products in turns, so
// one group's softmax runs beside another's products; and each group issues S_t together with
// P_{t-1} V_{t-1}, computing the softmax of S_t while the latter runs.
// Rows past q_len and keys past kv_len come in as zeros (outside the tensor map); keys are
// masked, rows are not written.
#include <cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/async_copy.cuh"
#include "cuda/kernels/attention/attention_internal.h"
#include "cuda/kernels/attention/element_pair.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/wgmma.cuh"

namespace glmasr::cuda::attention_internal {
namespace {

constexpr int kHeadDim = 64;  // one 128-byte swizzle row of 16-bit elements
constexpr int kKeysPerTile = 128;
constexpr int kGroupRows = 64;  // wgmma's M: one warpgroup's query rows
constexpr int kStages = 3;      // K/V ring depth
// Registers per thread the producer warpgroup keeps (setmaxnreg's least); the rest go to the
// consumers.
constexpr int kProducerRegisters = 24;
constexpr int kGroupThreads = 128;
constexpr int kTileBytes = kKeysPerTile * kWgmmaRowBytes;  // one K or V tile: 16 KB

template <int kGroups>
struct WgmmaLayout {
  static constexpr int kRows = kGroups * kGroupRows;  // query rows per work item
  static constexpr int kQBytes = kRows * kWgmmaRowBytes;
  static constexpr int kConsumerThreads = kGroups * kGroupThreads;
  static constexpr int kThreads = kConsumerThreads + kGroupThreads;  // + the producer warpgroup
  // Registers per consumer thread once the producer's are handed over: what 64 K registers
  // leave, in steps of 8 (2 groups: 240, 3 groups: 160).
  static constexpr int kConsumerRegisters =
      std::min(240, (65536 / kGroupThreads - kProducerRegisters) / kGroups / 8 * 8);
  // Two Q buffers (the next item's Q loads while this one's last tiles run), then the ring; all
  // offsets are multiples of the 1024-byte swizzle atom.
  static constexpr int kQOffset = 0;
  static constexpr int kKOffset = 2 * kQBytes;
  static constexpr int kVOffset = kKOffset + kStages * kTileBytes;
  static constexpr int kBarrierOffset = kVOffset + kStages * kTileBytes;
  // q_full[2], q_empty[2], k_full[S], v_full[S], kv_empty[S]
  static constexpr int kBarriers = 4 + 3 * kStages;
  // + 1024 so the base can be rounded up to the atom (dynamic shared memory is 16-byte aligned).
  static constexpr int kSmemBytes = kBarrierOffset + kBarriers * 8 + kWgmmaAtomBytes;
};

struct WgmmaMaps {
  CUtensorMap q, k, v;  // 4-D: (dim, head, row, batch), boxes of (64, 1, rows, 1)
};

struct WgmmaParams {
  void* out;
  int64_t out_batch_stride, out_row_stride, out_head_stride;
  int batch, q_len, kv_len, heads, group;  // group: q heads per kv head
  int q_blocks, items, key_tiles;
  float scale_log2;
};

struct Barriers {
  uint64_t* base;
  __device__ uint64_t* q_full(int b) const { return base + b; }
  __device__ uint64_t* q_empty(int b) const { return base + 2 + b; }
  __device__ uint64_t* k_full(int s) const { return base + 4 + s; }
  __device__ uint64_t* v_full(int s) const { return base + 4 + kStages + s; }
  __device__ uint64_t* kv_empty(int s) const { return base + 4 + 2 * kStages + s; }
};

struct Item {
  int q_block, head, batch;
};
// Consecutive items share (batch, head), so neighbouring blocks read the same K/V out of L2.
__device__ __forceinline__ Item item_at(const WgmmaParams& p, int item) {
  return {item % p.q_blocks, (item / p.q_blocks) % p.heads, item / (p.q_blocks * p.heads)};
}

template <int kGroups>
__device__ void produce(const WgmmaParams& p, const WgmmaMaps& maps, std::byte* smem,
                        const Barriers& bar) {
  using L = WgmmaLayout<kGroups>;
  int tile_count = 0;
  for (int item = blockIdx.x, local = 0; item < p.items; item += gridDim.x, ++local) {
    const Item it = item_at(p, item);
    const int qb = local & 1;
    if (local >= 2) mbarrier_wait(bar.q_empty(qb), ((local >> 1) - 1) & 1);
    mbarrier_expect_bytes(bar.q_full(qb), L::kQBytes);
    tensor_copy_4d(smem + L::kQOffset + qb * L::kQBytes, &maps.q, 0, it.head, it.q_block * L::kRows,
                   it.batch, bar.q_full(qb));
    const int kv_head = it.head / p.group;
    for (int t = 0; t < p.key_tiles; ++t, ++tile_count) {
      const int s = tile_count % kStages, round = tile_count / kStages;
      if (round > 0) mbarrier_wait(bar.kv_empty(s), (round - 1) & 1);
      mbarrier_expect_bytes(bar.k_full(s), kTileBytes);
      tensor_copy_4d(smem + L::kKOffset + s * kTileBytes, &maps.k, 0, kv_head, t * kKeysPerTile,
                     it.batch, bar.k_full(s));
      mbarrier_expect_bytes(bar.v_full(s), kTileBytes);
      tensor_copy_4d(smem + L::kVOffset + s * kTileBytes, &maps.v, 0, kv_head, t * kKeysPerTile,
                     it.batch, bar.v_full(s));
    }
  }
}

// The tensor cores take the consumer warpgroups' products in turns (named barriers 1..kGroups):
// a group waits for the previous one to issue before it issues, so that one group's softmax
// runs beside the next group's products instead of all groups contending for the same unit at
// the same time.
template <int kGroups>
struct Turns {
  int group;
  __device__ void take() const { named_barrier_sync(1 + group, 2 * kGroupThreads); }
  __device__ void pass() const {
    named_barrier_arrive(1 + (group + 1) % kGroups, 2 * kGroupThreads);
  }
};

// The online softmax of one tile of scores, in place: s becomes exp2(s * scale - max) for the
// row's new running maximum; returns the factor by which the row's earlier output and sum
// shrink. The four lanes of a quad share a row; r is the thread's row (0: lane/4, 1: + 8).
__device__ __forceinline__ float softmax_tile(float (&s)[64], int r, float& row_max, float& row_sum,
                                              float scale_log2) {
  float tile_max = -INFINITY;
#pragma unroll
  for (int j = 0; j < 16; ++j)
    tile_max = fmaxf(tile_max, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
  tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
  tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
  const float new_max = fmaxf(row_max, tile_max);
  // kv_len >= 1 and tiles never start past it: every tile has a visible key, new_max is finite.
  const float reference = new_max * scale_log2;
  const float correction = exp2f(row_max * scale_log2 - reference);
  row_max = new_max;
  float partial_sum = 0.0f;
#pragma unroll
  for (int j = 0; j < 16; ++j)
#pragma unroll
    for (int e = 2 * r; e < 2 * r + 2; ++e) {
      s[4 * j + e] = exp2f(fmaf(s[4 * j + e], scale_log2, -reference));
      partial_sum += s[4 * j + e];
    }
  row_sum = row_sum * correction + partial_sum;  // quad-reduced at the end
  return correction;
}

// Keys at or past kv_len (zeros from outside the tensor map) get no weight.
__device__ __forceinline__ void mask_keys(float (&s)[64], int key0, int kv_len, int lane) {
  if (key0 + kKeysPerTile <= kv_len) return;
#pragma unroll
  for (int i = 0; i < 64; ++i) {
    const int key = key0 + (i / 4) * 8 + 2 * (lane % 4) + (i & 1);
    if (key >= kv_len) s[i] = -INFINITY;
  }
}

// P as A fragments: the scores of n8 tiles 2k and 2k + 1 are the A fragment of k step k.
template <typename T>
__device__ __forceinline__ void pack_probabilities(const float (&s)[64], uint32_t (&p)[8][4]) {
#pragma unroll
  for (int k = 0; k < 8; ++k)
#pragma unroll
    for (int r = 0; r < 4; ++r) p[k][r] = pack_pair<T>(s[8 * k + 2 * r], s[8 * k + 2 * r + 1]);
}

template <typename T>
__device__ __forceinline__ void issue_scores(float (&s)[64], const std::byte* q_tile,
                                             const std::byte* k_tile) {
  wgmma_64x128x16<T, false>(s, wgmma_descriptor(q_tile), wgmma_descriptor(k_tile));
#pragma unroll
  for (int k = 1; k < kHeadDim / 16; ++k)  // k steps of 16 elements: 32 bytes along a row
    wgmma_64x128x16<T, true>(s, wgmma_descriptor(q_tile + 32 * k),
                             wgmma_descriptor(k_tile + 32 * k));
  wgmma_commit();
}

template <typename T>
__device__ __forceinline__ void issue_values(float (&o)[32], const uint32_t (&p)[8][4],
                                             const std::byte* v_tile) {
#pragma unroll
  for (int k = 0; k < kKeysPerTile / 16; ++k)  // 16 keys of 128 bytes per k step
    wgmma_64x64x16_a_registers<T>(o, p[k], wgmma_descriptor(v_tile + k * 16 * kWgmmaRowBytes));
  wgmma_commit();
}

// One warpgroup's 64 rows of every item of this block. Per tile t the group issues S_t = Q K_tᵀ
// together with O += P_{t-1} V_{t-1}, and computes the softmax of S_t while the latter runs.
template <typename T, int kGroups>
__device__ void consume(const WgmmaParams& p, std::byte* smem, const Barriers& bar, int group) {
  using L = WgmmaLayout<kGroups>;
  const int thread = threadIdx.x % kGroupThreads;
  const int warp = thread / 32, lane = thread % 32;
  const Turns<kGroups> turns{group};
  // Products are issued in this group's turn, after the fence that orders the registers they read.
  const auto in_turn = [&](auto&& issue) {
    turns.take();
    wgmma_fence();
    issue();
    turns.pass();
  };
  auto k_tile = [&](int stage) { return smem + L::kKOffset + stage * kTileBytes; };
  auto v_tile = [&](int stage) { return smem + L::kVOffset + stage * kTileBytes; };
  float s_acc[64];        // scores of the current tile: 64 rows x 128 keys over the group
  uint32_t p_frag[8][4];  // probabilities of the previous tile, in the element type
  float o_acc[32];        // output: 64 rows x 64 dims
  if (group == kGroups - 1) turns.pass();  // the first turn is group 0's

  int tile_count = 0;
  for (int item = blockIdx.x, local = 0; item < p.items; item += gridDim.x, ++local) {
    const Item it = item_at(p, item);
    const int qb = local & 1;
    const std::byte* q_tile = smem + L::kQOffset + qb * L::kQBytes + group * kGroupRows * 128;
#pragma unroll
    for (int i = 0; i < 32; ++i) o_acc[i] = 0.0f;
    // Two rows per thread (lane/4 and lane/4 + 8 of its warp); maxima of raw scores.
    float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
    mbarrier_wait(bar.q_full(qb), (local >> 1) & 1);

    int stage = tile_count % kStages;
    mbarrier_wait(bar.k_full(stage), (tile_count / kStages) & 1);
    in_turn([&] { issue_scores<T>(s_acc, q_tile, k_tile(stage)); });
    wgmma_wait<0>();
    wgmma_hold(s_acc);
    if (p.key_tiles == 1) mbarrier_arrive(bar.q_empty(qb));
    mask_keys(s_acc, 0, p.kv_len, lane);
    for (int r = 0; r < 2; ++r) softmax_tile(s_acc, r, row_max[r], row_sum[r], p.scale_log2);
    pack_probabilities<T>(s_acc, p_frag);

    for (int t = 1; t < p.key_tiles; ++t) {
      const int previous = stage;
      ++tile_count;
      stage = tile_count % kStages;
      mbarrier_wait(bar.k_full(stage), (tile_count / kStages) & 1);
      mbarrier_wait(bar.v_full(previous), ((tile_count - 1) / kStages) & 1);
      in_turn([&] {
        issue_scores<T>(s_acc, q_tile, k_tile(stage));
        issue_values<T>(o_acc, p_frag, v_tile(previous));
      });
      wgmma_wait<1>();  // the scores; P_{t-1} V_{t-1} may still run
      wgmma_hold(s_acc);
      if (t + 1 == p.key_tiles) mbarrier_arrive(bar.q_empty(qb));  // Q is read for this item
      mask_keys(s_acc, t * kKeysPerTile, p.kv_len, lane);
      float correction[2];
      for (int r = 0; r < 2; ++r)
        correction[r] = softmax_tile(s_acc, r, row_max[r], row_sum[r], p.scale_log2);
      wgmma_wait<0>();
      wgmma_hold(o_acc);
      mbarrier_arrive(bar.kv_empty(previous));  // this group is done with the stage
#pragma unroll
      for (int j = 0; j < 8; ++j)
#pragma unroll
        for (int e = 0; e < 4; ++e) o_acc[4 * j + e] *= correction[e >> 1];
      pack_probabilities<T>(s_acc, p_frag);
    }

    mbarrier_wait(bar.v_full(stage), (tile_count / kStages) & 1);
    in_turn([&] { issue_values<T>(o_acc, p_frag, v_tile(stage)); });
    wgmma_wait<0>();
    wgmma_hold(o_acc);
    mbarrier_arrive(bar.kv_empty(stage));
    ++tile_count;

    auto* out_head =
        static_cast<T*>(p.out) + it.batch * p.out_batch_stride + it.head * p.out_head_stride;
    const int row0 = it.q_block * L::kRows + group * kGroupRows + warp * 16 + lane / 4;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float total = row_sum[r];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      const int row = row0 + 8 * r;
      if (row >= p.q_len) continue;
      const float inv = 1.0f / total;
      auto* out_row = out_head + row * p.out_row_stride + 2 * (lane % 4);
#pragma unroll
      for (int j = 0; j < 8; ++j)
        *reinterpret_cast<Pair<T>*>(out_row + 8 * j) =
            pair_from_floats<T>(o_acc[4 * j + 2 * r] * inv, o_acc[4 * j + 2 * r + 1] * inv);
    }
  }
  if (group == 0) turns.take();  // the last group's last pass: every arrival is matched
}

template <typename T, int kGroups>
__global__ void __launch_bounds__(WgmmaLayout<kGroups>::kThreads, 1)
    flash_attention_wgmma_kernel(const __grid_constant__ WgmmaMaps maps, const WgmmaParams p) {
  using L = WgmmaLayout<kGroups>;
  extern __shared__ __align__(16) std::byte smem_raw[];
  // The swizzle is a function of the address bits: tiles must start on a 1024-byte atom.
  const uint32_t misalign = smem_address(smem_raw) % kWgmmaAtomBytes;
  std::byte* smem = smem_raw + (misalign ? kWgmmaAtomBytes - misalign : 0);
  const Barriers bar{reinterpret_cast<uint64_t*>(smem + L::kBarrierOffset)};
  if (threadIdx.x == 0) {
    for (int b = 0; b < 2; ++b) {
      mbarrier_init(bar.q_full(b), 1);
      mbarrier_init(bar.q_empty(b), L::kConsumerThreads);
    }
    for (int s = 0; s < kStages; ++s) {
      mbarrier_init(bar.k_full(s), 1);
      mbarrier_init(bar.v_full(s), 1);
      mbarrier_init(bar.kv_empty(s), L::kConsumerThreads);
    }
    mbarrier_init_fence();
  }
  __syncthreads();
  if (threadIdx.x >= L::kConsumerThreads) {
    // The producer warpgroup gives its registers to the consumers; one lane issues every copy.
    warpgroup_registers_decrease<kProducerRegisters>();
    if (threadIdx.x == L::kConsumerThreads) produce<kGroups>(p, maps, smem, bar);
    return;
  }
  warpgroup_registers_increase<L::kConsumerRegisters>();
  consume<T, kGroups>(p, smem, bar, threadIdx.x / kGroupThreads);
}

// ---- host: tensor maps and the launch --------------------------------------------------------

using EncodeTiled = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*,
                                 const cuuint64_t*, const cuuint64_t*, const cuuint32_t*,
                                 const cuuint32_t*, CUtensorMapInterleave, CUtensorMapSwizzle,
                                 CUtensorMapL2promotion, CUtensorMapFloatOOBfill);

// The driver's encoder, fetched through the runtime once (no link against libcuda).
EncodeTiled encode_tiled() {
  static EncodeTiled fn = [] {
    void* symbol = nullptr;
    cudaDriverEntryPointQueryResult found{};
    GLMASR_CUDA_CHECK(cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &symbol, 12000,
                                                       cudaEnableDefault, &found));
    GLMASR_CHECK(found == cudaDriverEntryPointSuccess && symbol != nullptr,
                 "flash_attention (wgmma): the driver has no cuTensorMapEncodeTiled");
    return reinterpret_cast<EncodeTiled>(symbol);
  }();
  return fn;
}

// One batch entry needs no batch stride of its own.
int64_t batch_stride_of(const AttentionTensor& t, int rows, int batch) {
  return batch == 1 ? t.row_stride * rows : t.batch_stride;
}
// A view the tensor map can describe: 16-byte aligned, strides in 16-byte steps, and nested
// (heads inside a row, rows inside a batch entry), as the fused QKV activation is.
bool mappable(const AttentionTensor& t, int heads, int rows, int batch) {
  return reinterpret_cast<uintptr_t>(t.ptr) % 16 == 0 && t.row_stride % 8 == 0 &&
         t.head_stride % 8 == 0 && batch_stride_of(t, rows, batch) % 8 == 0 &&
         t.head_stride >= kHeadDim && t.row_stride >= t.head_stride * heads &&
         batch_stride_of(t, rows, batch) >= t.row_stride * rows;
}

// (dim, head, row, batch) of a strided view, boxes of one head's `box_rows` rows.
CUtensorMap head_rows_map(DType dtype, const AttentionTensor& t, int heads, int rows, int batch,
                          int box_rows) {
  CUtensorMap map{};
  const cuuint64_t dims[4] = {kHeadDim, static_cast<cuuint64_t>(heads),
                              static_cast<cuuint64_t>(rows), static_cast<cuuint64_t>(batch)};
  const cuuint64_t strides[3] = {static_cast<cuuint64_t>(t.head_stride) * 2,
                                 static_cast<cuuint64_t>(t.row_stride) * 2,
                                 static_cast<cuuint64_t>(batch_stride_of(t, rows, batch)) * 2};
  const cuuint32_t box[4] = {kHeadDim, 1, static_cast<cuuint32_t>(box_rows), 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  const CUresult result = encode_tiled()(
      &map,
      dtype == DType::kF16 ? CU_TENSOR_MAP_DATA_TYPE_FLOAT16 : CU_TENSOR_MAP_DATA_TYPE_BFLOAT16, 4,
      t.ptr, dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
      CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  GLMASR_CHECK(result == CUDA_SUCCESS, "flash_attention (wgmma): cuTensorMapEncodeTiled failed (",
               static_cast<int>(result), ") for heads ", heads, ", rows ", rows, ", batch ", batch,
               ", strides ", t.head_stride, "/", t.row_stride, "/", t.batch_stride);
  return map;
}

template <typename T, int kGroups>
void launch_wgmma(const FlashAttentionParams& p, cudaStream_t stream) {
  using L = WgmmaLayout<kGroups>;
  auto* kernel = flash_attention_wgmma_kernel<T, kGroups>;
  // Above 48 KB a kernel must opt in (per device); cheap enough to repeat on every launch.
  GLMASR_CUDA_CHECK(
      cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, L::kSmemBytes));
  WgmmaMaps maps{head_rows_map(p.dtype, p.q, p.heads, p.q_len, p.batch, L::kRows),
                 head_rows_map(p.dtype, p.k, p.kv_heads, p.kv_len, p.batch, kKeysPerTile),
                 head_rows_map(p.dtype, p.v, p.kv_heads, p.kv_len, p.batch, kKeysPerTile)};
  WgmmaParams w{};
  w.out = p.out.ptr;
  w.out_batch_stride = p.out.batch_stride;
  w.out_row_stride = p.out.row_stride;
  w.out_head_stride = p.out.head_stride;
  w.batch = p.batch;
  w.q_len = p.q_len;
  w.kv_len = p.kv_len;
  w.heads = p.heads;
  w.group = p.heads / p.kv_heads;
  w.q_blocks = (p.q_len + L::kRows - 1) / L::kRows;
  w.items = w.q_blocks * p.heads * p.batch;
  w.key_tiles = (p.kv_len + kKeysPerTile - 1) / kKeysPerTile;
  w.scale_log2 = p.scale * static_cast<float>(M_LOG2E);
  const int grid = std::min(w.items, sm_count());
  kernel<<<grid, L::kThreads, L::kSmemBytes, stream>>>(maps, w);
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool flash_attention_wgmma_supported(const FlashAttentionParams& p) {
  // sm_90 exactly: wgmma is Hopper's (sm_100 has other instructions), and the kernel is built
  // for sm_90a only.
  return p.head_dim == kHeadDim && !p.causal && p.spans == nullptr &&
         (p.dtype == DType::kBF16 || p.dtype == DType::kF16) && p.q_len >= 1 && p.kv_len >= 1 &&
         mappable(p.q, p.heads, p.q_len, p.batch) && mappable(p.k, p.kv_heads, p.kv_len, p.batch) &&
         mappable(p.v, p.kv_heads, p.kv_len, p.batch) &&
         reinterpret_cast<uintptr_t>(p.out.ptr) % 4 == 0 && p.out.row_stride % 2 == 0 &&
         p.out.head_stride % 2 == 0 && p.out.batch_stride % 2 == 0 && compute_capability() == 90;
}

int flash_attention_wgmma_groups(const FlashAttentionParams& p) {
  // Three groups (192 rows per item) keep the tensor cores busier: 16 encoder windows 441 us
  // against 527 with two (H200). But an item is then a larger share of the grid, so small
  // grids end in a ragged last wave: one window took 54 us with three, 45 with two. Three
  // once the grid is at least four waves of items.
  constexpr int kRows = WgmmaLayout<3>::kRows;
  const int64_t items = int64_t{(p.q_len + kRows - 1) / kRows} * p.heads * p.batch;
  return items >= 4 * int64_t{sm_count()} ? 3 : 2;
}

void launch_flash_attention_wgmma(const FlashAttentionParams& p, cudaStream_t stream, int groups) {
  GLMASR_CHECK(flash_attention_wgmma_supported(p),
               "flash_attention (wgmma): expected head_dim 64, no causal mask, bf16 or fp16, "
               "16-byte aligned views, no packed spans and an sm_90 GPU; got head_dim ",
               p.head_dim, p.causal ? ", causal" : "", p.spans ? ", packed spans" : "");
  if (groups == 0) groups = flash_attention_wgmma_groups(p);
  if (groups == 2)
    GLMASR_DISPATCH_ELEMENT(p.dtype, T, (launch_wgmma<T, 2>(p, stream)));
  else if (groups == 3)
    GLMASR_DISPATCH_ELEMENT(p.dtype, T, (launch_wgmma<T, 3>(p, stream)));
  else
    fail("flash_attention (wgmma): expected 2 or 3 warpgroups per block, got ", groups);
}

}  // namespace glmasr::cuda::attention_internal
