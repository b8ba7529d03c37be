#include <cuda_fp8.h>

#include <algorithm>
#include <array>
#include <atomic>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/skinny_gemm.h"
#include "cuda/kernels/tensor_core.cuh"

namespace glmasr::cuda {
namespace {

// A block is 8 warps in 4 row groups of 16 weight rows and 2 input groups: a warp multiplies its
// 16 rows by the whole (padded) batch over half of each stage's inputs, and the two halves are
// added at the end. With 4 warps per block (each all of a stage's inputs) the chain of shared
// loads, fp8 widening and mma of a warp set the pace, not the memory (measured on the H200).
constexpr int kRowGroups = 4, kInputGroups = 2;
constexpr int kWarps = kRowGroups * kInputGroups;
constexpr int kThreads = kWarps * 32;
constexpr int kTileRows = kRowGroups * 16;  // weight rows per block
constexpr int kStepInputs = static_cast<int>(kSkinnyGemmInputStep);
constexpr int kXRowBytes = kStepInputs * 2;  // one batch row of a stage, 16-bit elements
// SwiGLU blocks own gate rows [c, c + 32) and up rows [F + c, F + c + 32): 32 outputs. RoPE
// blocks own the rows (d, d + head_dim/2) for 32 d of one q or k head.
constexpr int kPairColumns = kTileRows / 2;

template <bool kFp8>
constexpr int kWRowBytes = kFp8 ? kStepInputs : kStepInputs * 2;

// Shared memory of one instance: kStages pipeline stages of (weight tile, batch tile), reused
// after the loop for the block's sums. About 100 KB, so two blocks share an SM: each keeps up
// to (kStages - 1) stages of weights in flight, what HBM3e needs to stream at full rate.
template <bool kFp8, int kNTiles>
struct Layout {
  static constexpr int kBatchRows = 8 * kNTiles;
  static constexpr int kWBytes = kTileRows * kWRowBytes<kFp8>;
  static constexpr int kXBytes = kBatchRows * kXRowBytes;
  // The RMSNorm weights of the stage's inputs (instances that may fuse the norm).
  static constexpr int kNormBytes = kNTiles * 8 <= kSkinnyGemmMaxNormBatch ? kXRowBytes : 0;
  static constexpr int kStageBytes = kWBytes + kXBytes + kNormBytes;
  static constexpr int kStages = std::min(8, (100 * 1024) / kStageBytes);
  static constexpr int kSmemBytes = kStages * kStageBytes;
  static constexpr int kSumStride = kBatchRows + 1;  // floats per row of sums (odd: no conflicts)
  static_assert(kStages >= 3, "the pipeline keeps two stages in flight while one is multiplied");
  static_assert(kTileRows * kSumStride * 4 <= kSmemBytes, "the sums reuse the stages");
};

// Byte offset of 16-byte chunk `chunk` of tile row `row`: chunks are XOR-swizzled by the row so
// that ldmatrix's 8 rows at one chunk fall in 8 different bank groups.
__device__ __forceinline__ int swizzled(int row, int chunk, int row_bytes) {
  return row * row_bytes + ((chunk ^ (row & 7)) << 4);
}

// Two E4M3 codes (the lower byte first) as the 32-bit pair of T an mma fragment holds. Exact:
// every E4M3 value is an fp16 and a bf16 value.
template <typename T>
__device__ __forceinline__ uint32_t widen_e4m3_pair(uint16_t codes) {
  const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(codes, __NV_E4M3);
  if constexpr (std::is_same_v<T, __half>) {
    return uint32_t{h.x} | (uint32_t{h.y} << 16);
  } else {
    const float2 f = __half22float2(__half2(h));
    const __nv_bfloat162 b = __floats2bfloat162_rn(f.x, f.y);
    return *reinterpret_cast<const uint32_t*>(&b);
  }
}

// The workspace: one arrival counter per column tile, then the partial sums.
__host__ __device__ constexpr size_t counter_bytes(int64_t tiles) {
  return ((size_t(tiles) * sizeof(int) + 255) / 256) * 256;
}

// The weight row that tile row r of column tile `tile` multiplies, or -1 past the matrix. Paired
// blocks (SwiGLU, the q/k heads of RoPE) take kPairColumns rows of each half, the rest kTileRows
// consecutive rows (after the q/k heads for RoPE: the v heads).
__device__ __forceinline__ int64_t weight_row(const SkinnyGemmParams& p, int64_t tile, int r) {
  const int pair_r = r % kPairColumns;
  const bool second = r >= kPairColumns;
  if (p.swiglu_width > 0) {
    const int64_t pair = tile * kPairColumns + pair_r;
    if (pair >= p.swiglu_width) return -1;
    return second ? p.swiglu_width + pair : pair;
  }
  int64_t row = tile * kTileRows + r;
  if (p.rope.head_dim > 0) {
    const int half = p.rope.head_dim / 2;
    const int64_t pair_tiles = p.rope.pairs() / kPairColumns;
    if (tile < pair_tiles) {
      const int64_t pair = tile * kPairColumns + pair_r;
      return (pair / half) * p.rope.head_dim + pair % half + (second ? half : 0);
    }
    row = 2 * p.rope.pairs() + (tile - pair_tiles) * kTileRows + r;
  }
  return row < p.out ? row : -1;
}

struct SkinnyGrid {
  int steps_per_block = 0;  // input steps of kStepInputs each block multiplies
  int split = 1;            // blocks per column tile (gridDim.y)
};

template <typename T, bool kFp8, int kNTiles>
__global__ void __launch_bounds__(kThreads)
    skinny_gemm_kernel(SkinnyGemmParams p, SkinnyGrid grid) {
  using L = Layout<kFp8, kNTiles>;
  extern __shared__ __align__(128) uint8_t smem[];
  __shared__ int last_block;
  allow_next_kernel();

  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  const int tile = blockIdx.x, part = blockIdx.y;
  const bool swiglu = p.swiglu_width > 0, rope = p.rope.head_dim > 0;
  const int64_t steps = p.in / kStepInputs;
  const int64_t first_step = int64_t{part} * grid.steps_per_block;
  const int64_t left = steps - first_step;
  const int my_steps = static_cast<int>(left < grid.steps_per_block ? left : grid.steps_per_block);

  // The weight rows this thread copies: kWChunks 16-byte chunks per tile row, the thread's chunk
  // fixed and its rows kThreads / kWChunks apart.
  constexpr int kWChunks = kWRowBytes<kFp8> / 16;
  constexpr int kWRowsPerPass = kThreads / kWChunks;
  constexpr int kWPasses = kTileRows / kWRowsPerPass;
  const int w_chunk = t % kWChunks;
  const uint8_t* w_row[kWPasses];
  bool w_valid[kWPasses];
  const int64_t w_row_bytes = p.in * (kFp8 ? 1 : 2);
#pragma unroll
  for (int i = 0; i < kWPasses; ++i) {
    const int64_t row = weight_row(p, tile, t / kWChunks + i * kWRowsPerPass);
    w_valid[i] = row >= 0;
    w_row[i] = static_cast<const uint8_t*>(p.w) + (w_valid[i] ? row : 0) * w_row_bytes +
               first_step * kWRowBytes<kFp8> + w_chunk * 16;
  }
  // The batch rows this thread copies: 16 chunks per row, kThreads / 16 rows per pass.
  constexpr int kXRowsPerPass = kThreads / 16;
  constexpr int kXPasses = (L::kBatchRows + kXRowsPerPass - 1) / kXRowsPerPass;
  const int x_chunk = t % 16;
  const T* x = static_cast<const T*>(p.x);
  const T* norm_weight = static_cast<const T*>(p.norm_weight);
  auto load_weights = [&](int step, int stage) {
    uint8_t* tile_w = smem + stage * L::kStageBytes;
#pragma unroll
    for (int i = 0; i < kWPasses; ++i) {
      const int r = t / kWChunks + i * kWRowsPerPass;
      cp_async_16(tile_w + swizzled(r, w_chunk, kWRowBytes<kFp8>),
                  w_row[i] + int64_t{step} * kWRowBytes<kFp8>, w_valid[i]);
    }
  };
  auto load_batch = [&](int step, int stage) {
    uint8_t* tile_x = smem + stage * L::kStageBytes + L::kWBytes;
#pragma unroll
    for (int i = 0; i < kXPasses; ++i) {
      const int b = t / 16 + i * kXRowsPerPass;
      if (b >= L::kBatchRows) break;
      const bool valid = b < p.batch;
      cp_async_16(tile_x + swizzled(b, x_chunk, kXRowBytes),
                  x + (valid ? b : 0) * p.ldx + (first_step + step) * kStepInputs + x_chunk * 8,
                  valid);
    }
  };
  // The norm weights of a stage's inputs: weights, so loaded with the stage's weight tile.
  auto load_norm_weights = [&](int step, int stage) {
    if constexpr (L::kNormBytes > 0) {
      if (norm_weight && t < kStepInputs / 8)
        cp_async_16(smem + stage * L::kStageBytes + L::kWBytes + L::kXBytes + t * 16,
                    norm_weight + (first_step + step) * kStepInputs + t * 8, true);
    }
  };

  // The first stages' weights load before the wait (no kernel of the step writes weights), the
  // batch rows after it; all of them form the first group.
  for (int s = 0; s < L::kStages - 1; ++s) {
    if (s < my_steps) {
      load_weights(s, s);
      load_norm_weights(s, s);
    }
  }
  wait_for_previous_kernel();
  for (int s = 0; s < L::kStages - 1; ++s)
    if (s < my_steps) load_batch(s, s);
  cp_async_commit();

  // RMSNorm of x first (norm_weight): every block takes the scale of each batch row from the
  // whole row (a few KB from L2 at these batches) while its first stages load, and normalizes
  // each stage's batch tile in shared memory before multiplying it, rounding as rms_norm does:
  // round(w_n * round(x * rsqrt(mean x^2 + eps))). The step then needs no RMSNorm kernel.
  __shared__ float inv_rms[kSkinnyGemmMaxNormBatch];
  if constexpr (L::kNormBytes > 0) {
    if (norm_weight) {
      __shared__ float norm_partial[kWarps][kSkinnyGemmMaxNormBatch];
      for (int b = 0; b < p.batch; ++b) {
        float squares = 0.0f;
        for (int64_t c = t; c < p.in / 8; c += kThreads) {
          const Vec8<T> v = load8(x + b * p.ldx + c * 8);
#pragma unroll
          for (int i = 0; i < 8; ++i) squares = fmaf(to_float(v.e[i]), to_float(v.e[i]), squares);
        }
        squares = warp_sum(squares);
        if (lane == 0) norm_partial[warp][b] = squares;
      }
      __syncthreads();
      if (t < p.batch) {
        float sum = 0.0f;
#pragma unroll
        for (int w = 0; w < kWarps; ++w) sum += norm_partial[w][t];
        inv_rms[t] = rsqrtf(sum / static_cast<float>(p.in) + p.eps);
      }
      // inv_rms is read after the first step's barrier.
    }
  }

  float acc[kNTiles][4];
#pragma unroll
  for (int j = 0; j < kNTiles; ++j)
#pragma unroll
    for (int i = 0; i < 4; ++i) acc[j][i] = 0.0f;

  const int g = lane >> 2, q = lane & 3;  // the fragment's row group and column pair
  const int row_group = warp % kRowGroups, input_group = warp / kRowGroups;
  constexpr int kPieces = kStepInputs / 16 / kInputGroups;  // 16-input pieces per warp and stage
  for (int step = 0; step < my_steps; ++step) {
    if (step == 0)
      cp_async_wait<0>();
    else
      cp_async_wait<L::kStages - 2>();
    // Stage `step` is visible to every warp, and every warp is done with the stage before it,
    // whose buffer the next copy reuses.
    __syncthreads();
    const int next = step + L::kStages - 1;
    if (next < my_steps) {
      load_weights(next, next % L::kStages);
      load_norm_weights(next, next % L::kStages);
      load_batch(next, next % L::kStages);
    }
    cp_async_commit();

    const uint8_t* tile_w = smem + (step % L::kStages) * L::kStageBytes;
    const uint8_t* tile_x = tile_w + L::kWBytes;
    if constexpr (L::kNormBytes > 0) {
      if (norm_weight) {
        // One 16-byte chunk of the batch tile per thread: row t / 16, inputs 8 (t % 16)...
        if (t < p.batch * (kStepInputs / 8)) {
          const int b = t / (kStepInputs / 8), chunk = t % (kStepInputs / 8);
          auto* at = reinterpret_cast<uint4*>(smem + (step % L::kStages) * L::kStageBytes +
                                              L::kWBytes + swizzled(b, chunk, kXRowBytes));
          const uint4 weights = *reinterpret_cast<const uint4*>(tile_x + L::kXBytes + chunk * 16);
          Vec8<T> v, w;
          v.raw = *at;
          w.raw = weights;
          const float scale = inv_rms[b];
#pragma unroll
          for (int i = 0; i < 8; ++i)
            v.e[i] = from_float<T>(to_float(w.e[i]) * round_to<T>(to_float(v.e[i]) * scale));
          *at = v.raw;
        }
        __syncthreads();
      }
    }
#pragma unroll
    for (int piece = 0; piece < kPieces; ++piece) {
      const int kk = input_group * kPieces + piece;
      uint32_t a[4];
      if constexpr (kFp8) {
        // a0: (row g, inputs 2q, 2q + 1), a1: row g + 8, a2/a3: the same 8 inputs further.
        const int r0 = row_group * 16 + g, r1 = r0 + 8;
        const uint8_t* p0 = tile_w + swizzled(r0, kk, kWRowBytes<kFp8>) + 2 * q;
        const uint8_t* p1 = tile_w + swizzled(r1, kk, kWRowBytes<kFp8>) + 2 * q;
        a[0] = widen_e4m3_pair<T>(*reinterpret_cast<const uint16_t*>(p0));
        a[1] = widen_e4m3_pair<T>(*reinterpret_cast<const uint16_t*>(p1));
        a[2] = widen_e4m3_pair<T>(*reinterpret_cast<const uint16_t*>(p0 + 8));
        a[3] = widen_e4m3_pair<T>(*reinterpret_cast<const uint16_t*>(p1 + 8));
      } else {
        const int r = row_group * 16 + (lane & 7) + ((lane >> 3) & 1) * 8;
        ldmatrix_x4(a, tile_w + swizzled(r, kk * 2 + (lane >> 4), kWRowBytes<kFp8>));
      }
      if constexpr (kNTiles == 1) {
        uint32_t b[2];
        ldmatrix_x2(b, tile_x + swizzled(lane & 7, kk * 2 + ((lane >> 3) & 1), kXRowBytes));
        mma_16x8x16<T>(acc[0], a, b[0], b[1]);
      } else {
#pragma unroll
        for (int j = 0; j < kNTiles; j += 2) {
          uint32_t b[4];
          const int row = (j + (lane >> 4)) * 8 + (lane & 7);
          ldmatrix_x4(b, tile_x + swizzled(row, kk * 2 + ((lane >> 3) & 1), kXRowBytes));
          mma_16x8x16<T>(acc[j], a, b[0], b[1]);
          mma_16x8x16<T>(acc[j + 1], a, b[2], b[3]);
        }
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // the stages are free: the sums take their place

  // sums[row][b]: this block's product for tile row `row` and batch row b, the input groups
  // added in order.
  float* sums = reinterpret_cast<float*>(smem);
  for (int group = 0; group < kInputGroups; ++group) {
    if (input_group == group) {
#pragma unroll
      for (int j = 0; j < kNTiles; ++j) {
        const int row = row_group * 16 + g, col = j * 8 + 2 * q;
        float* top = sums + row * L::kSumStride + col;
        float* bottom = top + 8 * L::kSumStride;
        top[0] = group == 0 ? acc[j][0] : top[0] + acc[j][0];
        top[1] = group == 0 ? acc[j][1] : top[1] + acc[j][1];
        bottom[0] = group == 0 ? acc[j][2] : bottom[0] + acc[j][2];
        bottom[1] = group == 0 ? acc[j][3] : bottom[1] + acc[j][3];
      }
    }
    __syncthreads();
  }

  if (grid.split > 1) {
    // Partial sums [tile][part][row][batch row]; the tile's last block to arrive adds them in
    // part order, so the result is the same whichever block that is.
    constexpr int kTileFloats = kTileRows * L::kBatchRows;
    auto* counters = static_cast<int*>(p.workspace);
    float* partials =
        reinterpret_cast<float*>(static_cast<uint8_t*>(p.workspace) + counter_bytes(gridDim.x)) +
        int64_t{tile} * grid.split * kTileFloats;
    for (int i = t; i < kTileFloats; i += kThreads)
      partials[part * kTileFloats + i] =
          sums[(i / L::kBatchRows) * L::kSumStride + i % L::kBatchRows];
    __threadfence();
    __syncthreads();
    if (t == 0) last_block = atomicAdd(&counters[tile], 1) == grid.split - 1;
    __syncthreads();
    if (!last_block) return;
    __threadfence();
    // Four batch rows of one tile row at a time, every part's loads issued before the first
    // add: a loop of dependent L2 reads cost more than the whole product (measured).
    for (int i = 4 * t; i < kTileFloats; i += 4 * kThreads) {
      if (i % L::kBatchRows >= p.batch) continue;
      float4 part_sums[kSkinnyGemmMaxSplit];
#pragma unroll
      for (int s = 0; s < kSkinnyGemmMaxSplit; ++s)
        if (s < grid.split)
          part_sums[s] = __ldcg(reinterpret_cast<const float4*>(partials + s * kTileFloats + i));
      float4 total = part_sums[0];
#pragma unroll
      for (int s = 1; s < kSkinnyGemmMaxSplit; ++s) {
        if (s < grid.split) {
          total.x += part_sums[s].x;
          total.y += part_sums[s].y;
          total.z += part_sums[s].z;
          total.w += part_sums[s].w;
        }
      }
      float* row = sums + (i / L::kBatchRows) * L::kSumStride + i % L::kBatchRows;
      row[0] = total.x;
      row[1] = total.y;
      row[2] = total.z;
      row[3] = total.w;
    }
    if (t == 0) counters[tile] = 0;  // ready for the next launch
    __syncthreads();
  }

  // Each thread finishes one tile row for every (kThreads / rows)-th batch row: its output
  // column and scale stay fixed, and the residuals it adds are loaded 8 at a time.
  T* y = static_cast<T*>(p.y);
  auto sum_of = [&](int row, int b) { return sums[row * L::kSumStride + b]; };
  if (swiglu) {
    const int r = t % kPairColumns;
    const int64_t f = int64_t{tile} * kPairColumns + r;
    if (f >= p.swiglu_width) return;
    float gate_scale = 1.0f, up_scale = 1.0f;
    if constexpr (kFp8) {
      gate_scale = __ldg(p.w_scale + f);
      up_scale = __ldg(p.w_scale + p.swiglu_width + f);
    }
    for (int b = t / kPairColumns; b < p.batch; b += kThreads / kPairColumns) {
      const float gate = round_to<T>(sum_of(r, b) * gate_scale);
      const float up = round_to<T>(sum_of(r + kPairColumns, b) * up_scale);
      y[b * p.ldy + f] = from_float<T>(round_to<T>(gate / (1.0f + expf(-gate))) * up);
    }
  } else if (rope) {
    const QkvRopeEpilogue& e = p.rope;
    const int half = e.head_dim / 2;
    if (tile < e.pairs() / kPairColumns) {
      // Thread row r's pair (d, d + half) of one q or k head, for every 8th batch row.
      const int r = t % kPairColumns;
      const int64_t pair = int64_t{tile} * kPairColumns + r;
      const int head = static_cast<int>(pair / half), d = static_cast<int>(pair % half);
      float first_scale = 1.0f, second_scale = 1.0f;
      if constexpr (kFp8) {
        first_scale = __ldg(p.w_scale + weight_row(p, tile, r));
        second_scale = __ldg(p.w_scale + weight_row(p, tile, r + kPairColumns));
      }
      const T* cos_table = static_cast<const T*>(e.cos);
      const T* sin_table = static_cast<const T*>(e.sin);
      for (int b = t / kPairColumns; b < p.batch; b += kThreads / kPairColumns) {
        const int position = e.positions[b];
        const float c = to_float(cos_table[int64_t{position} * half + d]);
        const float s = to_float(sin_table[int64_t{position} * half + d]);
        // q*cos + rotate_half(q)*sin with every product rounded, as rope_qkv does.
        const float x1 = round_to<T>(sum_of(r, b) * first_scale);
        const float x2 = round_to<T>(sum_of(r + kPairColumns, b) * second_scale);
        T* dst =
            head < e.heads
                ? static_cast<T*>(e.q_out) + (int64_t{b} * e.heads + head) * e.head_dim
                : static_cast<T*>(e.k_cache) + e.kv().offset(e.slots[b], head - e.heads, position);
        dst[d] = from_float<T>(round_to<T>(x1 * c) - round_to<T>(x2 * s));
        dst[d + half] = from_float<T>(round_to<T>(x2 * c) + round_to<T>(x1 * s));
      }
    } else {
      // Thread row r's v row, for every 4th batch row.
      const int r = t % kTileRows;
      const int64_t n = weight_row(p, tile, r);
      if (n < 0) return;
      const float row_scale = kFp8 ? __ldg(p.w_scale + n) : 1.0f;
      const int64_t v = n - 2 * e.pairs();
      const int kv_head = static_cast<int>(v / e.head_dim), d = static_cast<int>(v % e.head_dim);
      T* v_cache = static_cast<T*>(e.v_cache);
      for (int b = t / kTileRows; b < p.batch; b += kThreads / kTileRows)
        v_cache[e.kv().offset(e.slots[b], kv_head, e.positions[b]) + d] =
            from_float<T>(sum_of(r, b) * row_scale);
    }
  } else {
    const int r = t % kTileRows;
    const int64_t n = int64_t{tile} * kTileRows + r;
    if (n >= p.out) return;
    const float row_scale = kFp8 ? __ldg(p.w_scale + n) : 1.0f;
    constexpr int kBatchStep = kThreads / kTileRows, kUnroll = 8;
    for (int b0 = t / kTileRows; b0 < p.batch; b0 += kBatchStep * kUnroll) {
      float residual[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int b = b0 + u * kBatchStep;
        residual[u] = p.residual && b < p.batch ? to_float(y[b * p.ldy + n]) : 0.0f;
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int b = b0 + u * kBatchStep;
        if (b < p.batch)
          y[b * p.ldy + n] = from_float<T>(round_to<T>(sum_of(r, b) * row_scale) + residual[u]);
      }
    }
  }
}

// The instance for a batch: the fewest 8-row tiles that hold it.
template <typename Fn>
void with_batch_tiles(int batch, Fn&& fn) {
  if (batch <= 8)
    fn(std::integral_constant<int, 1>{});
  else if (batch <= 16)
    fn(std::integral_constant<int, 2>{});
  else if (batch <= 32)
    fn(std::integral_constant<int, 4>{});
  else
    fn(std::integral_constant<int, 8>{});
}

// Blocks of one instance that fit an SM, per device (the opt-in to more than 48 KB of shared
// memory is made there too, once).
template <typename T, bool kFp8, int kNTiles>
int blocks_per_sm() {
  static std::array<std::atomic<int>, kMaxDevices> cached{};
  const int device = current_device();
  int blocks = cached[device].load(std::memory_order_relaxed);
  if (blocks == 0) {
    auto* kernel = skinny_gemm_kernel<T, kFp8, kNTiles>;
    constexpr int kSmem = Layout<kFp8, kNTiles>::kSmemBytes;
    GLMASR_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
    GLMASR_CUDA_CHECK(
        cudaOccupancyMaxActiveBlocksPerMultiprocessor(&blocks, kernel, kThreads, kSmem));
    blocks = std::max(blocks, 1);
    cached[device].store(blocks, std::memory_order_relaxed);
  }
  return blocks;
}

// What a launch's grid depends on.
struct Shape {
  DType dtype = DType::kBF16;
  bool fp8 = false, swiglu = false;
  int64_t out = 0, in = 0;
  int64_t rope_pairs = 0;  // > 0: the RoPE epilogue's q/k row pairs
  int batch = 1;
};

int64_t column_tiles(const Shape& s) {
  if (s.swiglu) return (s.out / 2 + kPairColumns - 1) / kPairColumns;
  const int64_t paired_rows = 2 * s.rope_pairs;
  return s.rope_pairs / kPairColumns + (s.out - paired_rows + kTileRows - 1) / kTileRows;
}

// Blocks per column tile: the fewest, among the divisors of the input steps (every block the
// same work), that give 70% of the blocks the device holds at once, each block keeping at least
// two steps (one cannot overlap its loads). Tiles enough to fill the device take 1.
int choose_split(int64_t tiles, int64_t steps, int64_t resident) {
  int best = 1;
  for (int64_t s = 1; s <= std::min<int64_t>(steps, kSkinnyGemmMaxSplit); ++s) {
    if (steps % s != 0) continue;
    if (s > 1 && steps / s < 2) break;
    best = static_cast<int>(s);
    if (tiles * s * 10 >= resident * 7) break;
  }
  return best;
}

// The blocks per tile a split asks for, made even: every block but the last the same steps.
SkinnyGrid grid_for(int64_t steps, int split) {
  split = std::min(split, kSkinnyGemmMaxSplit);
  SkinnyGrid grid;
  grid.steps_per_block = static_cast<int>((steps + split - 1) / split);
  grid.split = static_cast<int>((steps + grid.steps_per_block - 1) / grid.steps_per_block);
  return grid;
}

size_t workspace_bytes_for(int64_t tiles, int split, int n_tiles) {
  if (split <= 1) return 0;
  return counter_bytes(tiles) + size_t(tiles) * split * kTileRows * 8 * n_tiles * sizeof(float);
}

SkinnyGrid automatic_grid(const Shape& s) {
  int split = 1;
  GLMASR_DISPATCH_ELEMENT(s.dtype, T, {
    with_batch_tiles(s.batch, [&](auto n_tiles) {
      constexpr int kN = decltype(n_tiles)::value;
      const int per_sm = s.fp8 ? blocks_per_sm<T, true, kN>() : blocks_per_sm<T, false, kN>();
      split = choose_split(column_tiles(s), s.in / kStepInputs, int64_t{per_sm} * sm_count());
    });
  });
  return grid_for(s.in / kStepInputs, split);
}

Shape shape_of(const SkinnyGemmParams& p) {
  return {.dtype = p.dtype,
          .fp8 = p.w_scale != nullptr,
          .swiglu = p.swiglu_width > 0,
          .out = p.out,
          .in = p.in,
          .rope_pairs = p.rope.head_dim > 0 ? p.rope.pairs() : 0,
          .batch = p.batch};
}

}  // namespace

bool skinny_gemm_supported(int batch, int64_t in) {
  return batch >= 1 && batch <= kSkinnyGemmMaxBatch && in >= kStepInputs && in % kStepInputs == 0;
}

bool skinny_gemm_rope_supported(int head_dim) {
  return head_dim > 0 && (head_dim / 2) % kPairColumns == 0 && head_dim % 2 == 0;
}

int skinny_gemm_batch_rows(int batch) {
  int rows = 0;
  with_batch_tiles(batch, [&](auto n_tiles) { rows = 8 * n_tiles.value; });
  return rows;
}

int skinny_gemm_split(const SkinnyGemmParams& p) {
  return automatic_grid(shape_of(p)).split;
}

size_t skinny_gemm_workspace_bytes(const SkinnyGemmParams& shape, int max_batch, int max_split) {
  size_t bytes = 0;
  // One batch of each instance up to max_batch: the largest of its rows.
  for (int rows : {8, 16, 32, 64}) {
    Shape s = shape_of(shape);
    s.batch = std::min(rows, max_batch);
    const int64_t steps = s.in / kStepInputs;
    const SkinnyGrid grid = max_split > 0 ? grid_for(steps, max_split) : automatic_grid(s);
    with_batch_tiles(s.batch, [&](auto n_tiles) {
      bytes = std::max(bytes, workspace_bytes_for(column_tiles(s), grid.split, n_tiles.value));
    });
    if (rows >= max_batch) break;
  }
  return bytes;
}

void skinny_gemm(const SkinnyGemmParams& given, cudaStream_t stream) {
  SkinnyGemmParams p = given;
  GLMASR_CHECK(skinny_gemm_supported(p.batch, p.in), "skinny_gemm: expected batch 1..",
               kSkinnyGemmMaxBatch, " and an input width that is a positive multiple of ",
               kStepInputs, ", got batch ", p.batch, " and width ", p.in);
  const bool swiglu = p.swiglu_width > 0;
  GLMASR_CHECK(!swiglu || (p.out == 2 * p.swiglu_width && !p.residual),
               "skinny_gemm: SwiGLU expects out = 2 * swiglu_width and no residual, got out ",
               p.out, ", swiglu_width ", p.swiglu_width);
  const QkvRopeEpilogue& rope = p.rope;
  GLMASR_CHECK(rope.head_dim == 0 || (skinny_gemm_rope_supported(rope.head_dim) &&
                                      p.out == rope.rows() && !swiglu && !p.residual),
               "skinny_gemm: the RoPE epilogue expects head_dim a multiple of ", 2 * kPairColumns,
               ", out = (heads + 2 kv_heads) * head_dim and neither SwiGLU nor a residual, got "
               "head_dim ",
               rope.head_dim, ", out ", p.out, " for ", rope.heads, " + 2 x ", rope.kv_heads,
               " heads");
  GLMASR_CHECK(!p.norm_weight || p.batch <= kSkinnyGemmMaxNormBatch,
               "skinny_gemm: the RMSNorm prologue takes batches up to ", kSkinnyGemmMaxNormBatch,
               ", got ", p.batch);
  if (p.ldx == 0) p.ldx = p.in;
  if (p.ldy == 0) p.ldy = swiglu ? p.swiglu_width : p.out;
  GLMASR_CHECK(p.ldx % 8 == 0,
               "skinny_gemm: expected a row stride of x that is a multiple of 8, got ", p.ldx);
  const int64_t tiles = column_tiles(shape_of(p));
  if (tiles == 0) return;
  const int64_t steps = p.in / kStepInputs;
  const SkinnyGrid grid = p.split > 0 ? grid_for(steps, p.split) : automatic_grid(shape_of(p));
  const bool fp8 = p.w_scale != nullptr;
  with_batch_tiles(p.batch, [&](auto n_tiles) {
    const size_t needed = workspace_bytes_for(tiles, grid.split, n_tiles.value);
    GLMASR_CHECK(needed <= p.workspace_bytes && (needed == 0 || p.workspace),
                 "skinny_gemm: a split of ", grid.split, " over ", tiles, " tiles needs ", needed,
                 " bytes of workspace, got ", p.workspace_bytes);
    GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
      auto launch = [&](auto kernel, int smem) {
        const DependentLaunch config{dim3(static_cast<unsigned>(tiles), grid.split), kThreads,
                                     stream, -1, static_cast<size_t>(smem)};
        launch_dependent(kernel, config, p, grid);
      };
      constexpr int kN = decltype(n_tiles)::value;
      if (fp8) {
        blocks_per_sm<T, true, kN>();  // the shared-memory opt-in
        launch(skinny_gemm_kernel<T, true, kN>, Layout<true, kN>::kSmemBytes);
      } else {
        blocks_per_sm<T, false, kN>();
        launch(skinny_gemm_kernel<T, false, kN>, Layout<false, kN>::kSmemBytes);
      }
    });
  });
}

}  // namespace glmasr::cuda
