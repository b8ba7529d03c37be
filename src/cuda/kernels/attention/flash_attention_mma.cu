// The tensor-core flash-attention kernel (FlashAttention-2 layout) for head_dim 64 and 128.
//
// A block of 4 warps owns 64 query rows of one (batch, head); each warp owns 16 rows and keeps
// its Q fragments, scores and output accumulator in registers. K/V tiles of 64 keys stream
// through shared memory with cp.async, double-buffered so that the next tile loads while the
// current one is multiplied. Products use mma.sync m16n8k16 (bf16 or fp16 in, fp32 accumulate);
// the softmax runs online in fp32, in the log2 domain (exp2f) with the scale folded in. T is the
// element type (__nv_bfloat16 or __half): both have the same fragment layouts, so only the mma
// instruction and the rounding of P and of the output differ.
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "cuda/check.h"
#include "cuda/kernels/attention/attention_internal.h"
#include "cuda/kernels/attention/element_pair.cuh"
#include "cuda/kernels/attention/flash_entry.cuh"
#include "cuda/kernels/attention/padded_rows.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/tensor_core.cuh"

namespace glmasr::cuda::attention_internal {
namespace {

// A warp owns kMTiles x 16 query rows; a block of 4 warps owns 64 x kMTiles rows.
constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kKeysPerTile = 64;

template <int kHeadDim, int kMTiles>
struct TileLayout {
  static constexpr int kRowsPerBlock = kWarps * 16 * kMTiles;
  static constexpr int kStride = padded_row_elems(kHeadDim);
  static constexpr int kQElems = kRowsPerBlock * kStride;
  static constexpr int kKvElems = kKeysPerTile * kStride;          // one K or V tile
  static constexpr int kSmemBytes = (kQElems + 4 * kKvElems) * 2;  // Q + 2 x K + 2 x V, 16-bit
};

template <int kHeadDim, int kMTiles>
constexpr int min_blocks_per_sm() {
  // 64 rows at head_dim 64: 4 resident blocks (128 registers), so one encoder window
  // (24 x 20 blocks) runs in a single wave.
  return kHeadDim == 64 && kMTiles == 1 ? 4 : 2;
}

template <typename T, int kHeadDim, int kMTiles>
__global__ void __launch_bounds__(kThreads, (min_blocks_per_sm<kHeadDim, kMTiles>()))
    flash_attention_mma_kernel(FlashAttentionParams p, float scale_log2) {
  using Layout = TileLayout<kHeadDim, kMTiles>;
  constexpr int kStride = Layout::kStride;
  constexpr int kDimSteps = kHeadDim / 16;  // k-steps of Q Kᵀ
  constexpr int kKeyTiles8 = kKeysPerTile / 8;
  constexpr int kDimTiles8 = kHeadDim / 8;
  constexpr int kRowsPerBlock = Layout::kRowsPerBlock;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* q_tile = reinterpret_cast<T*>(smem_raw);
  // Buffers are picked by arithmetic, not by indexing a pointer array (that would sit in local
  // memory). Tiles: Q, K0, K1, V0, V1.
  auto k_tile_of = [&](int buf) { return q_tile + Layout::kQElems + buf * Layout::kKvElems; };
  auto v_tile_of = [&](int buf) { return q_tile + Layout::kQElems + (2 + buf) * Layout::kKvElems; };

  // Causal blocks near the end see the most keys: start them first.
  const int q_block = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (p.heads / p.kv_heads);
  const int q0 = q_block * kRowsPerBlock;
  const FlashEntry entry = flash_entry(p, b);
  // A short span of a packed launch has fewer query blocks than the grid: the whole block leaves.
  if (q0 >= entry.q_len) return;
  const int q_len = entry.q_len, kv_len = entry.kv_len;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int causal_offset = kv_len - q_len;  // query i sees keys <= i + causal_offset

  const auto* q_head = static_cast<const T*>(p.q.ptr) + entry.q_offset + h * p.q.head_stride;
  const auto* k_head = static_cast<const T*>(p.k.ptr) + entry.k_offset + kvh * p.k.head_stride;
  const auto* v_head = static_cast<const T*>(p.v.ptr) + entry.v_offset + kvh * p.v.head_stride;

  int key_tiles = (kv_len + kKeysPerTile - 1) / kKeysPerTile;
  if (p.causal) {
    const int last_key = min(q0 + kRowsPerBlock - 1, q_len - 1) + causal_offset;
    key_tiles = min(key_tiles, last_key / kKeysPerTile + 1);
  }

  load_padded_rows<kHeadDim, kRowsPerBlock, kThreads>(q_tile, q_head, p.q.row_stride, q0, q_len);
  load_padded_rows<kHeadDim, kKeysPerTile, kThreads>(k_tile_of(0), k_head, p.k.row_stride, 0,
                                                     kv_len);
  load_padded_rows<kHeadDim, kKeysPerTile, kThreads>(v_tile_of(0), v_head, p.v.row_stride, 0,
                                                     kv_len);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // This warp's query rows as A fragments: [m tile][16-wide slice of head_dim].
  uint32_t q_frag[kMTiles][kDimSteps][4];
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int s = 0; s < kDimSteps; ++s)
      ldmatrix_x4(q_frag[m][s], q_tile + ((warp * kMTiles + m) * 16 + (lane & 15)) * kStride +
                                    s * 16 + (lane >> 4) * 8);

  float out_acc[kMTiles][kDimTiles8][4];
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int t = 0; t < kDimTiles8; ++t)
#pragma unroll
      for (int e = 0; e < 4; ++e) out_acc[m][t][e] = 0.0f;
  // Per m tile each thread holds two rows: lane/4 and lane/4 + 8. Maxima are of raw scores
  // (scale > 0 keeps their order); the scale is applied inside the exponent's FMA.
  float row_max[kMTiles][2], row_sum[kMTiles][2];
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      row_max[m][r] = -INFINITY;
      row_sum[m][r] = 0.0f;
    }
  const int warp_row0 = q0 + warp * kMTiles * 16 + lane / 4;

  for (int tile = 0; tile < key_tiles; ++tile) {
    const int buf = tile & 1;
    if (tile + 1 < key_tiles) {
      // The other buffer was last read in iteration tile-1, which ended with a barrier.
      const int next = (tile + 1) * kKeysPerTile;
      load_padded_rows<kHeadDim, kKeysPerTile, kThreads>(k_tile_of(buf ^ 1), k_head, p.k.row_stride,
                                                         next, kv_len);
      load_padded_rows<kHeadDim, kKeysPerTile, kThreads>(v_tile_of(buf ^ 1), v_head, p.v.row_stride,
                                                         next, kv_len);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();

    const T* k_tile = k_tile_of(buf);
    const T* v_tile = v_tile_of(buf);
    const int key0 = tile * kKeysPerTile;

    // Scores S = Q Kᵀ: per m tile 16 rows x 64 keys, 8 accumulator tiles of 16x8. Each K
    // fragment feeds every m tile, which is what more rows per warp buy.
    float score[kMTiles][kKeyTiles8][4];
#pragma unroll
    for (int m = 0; m < kMTiles; ++m)
#pragma unroll
      for (int t = 0; t < kKeyTiles8; ++t)
#pragma unroll
        for (int e = 0; e < 4; ++e) score[m][t][e] = 0.0f;
#pragma unroll
    for (int s = 0; s < kDimSteps; ++s) {
#pragma unroll
      for (int t = 0; t < kKeyTiles8; t += 2) {
        // Matrices: keys t*8..+7 (dims lo, hi), keys t*8+8..+15 (dims lo, hi).
        uint32_t kb[4];
        ldmatrix_x4(kb, k_tile + (t * 8 + (lane & 7) + ((lane >> 4) << 3)) * kStride + s * 16 +
                            ((lane >> 3) & 1) * 8);
#pragma unroll
        for (int m = 0; m < kMTiles; ++m) {
          mma_16x8x16<T>(score[m][t], q_frag[m][s], kb[0], kb[1]);
          mma_16x8x16<T>(score[m][t + 1], q_frag[m][s], kb[2], kb[3]);
        }
      }
    }

    const bool needs_mask =
        key0 + kKeysPerTile > kv_len || (p.causal && key0 + kKeysPerTile - 1 > q0 + causal_offset);
    if (needs_mask) {
#pragma unroll
      for (int m = 0; m < kMTiles; ++m)
#pragma unroll
        for (int t = 0; t < kKeyTiles8; ++t)
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            const int key = key0 + t * 8 + 2 * (lane % 4) + (e & 1);
            const int row = warp_row0 + m * 16 + (e >> 1) * 8;
            if (key >= kv_len || (p.causal && key > row + causal_offset))
              score[m][t][e] = -INFINITY;
          }
    }

    // Online softmax per row: the four lanes of a quad share a row.
#pragma unroll
    for (int m = 0; m < kMTiles; ++m) {
#pragma unroll
      for (int r = 0; r < 2; ++r) {
        float tile_max = -INFINITY;
#pragma unroll
        for (int t = 0; t < kKeyTiles8; ++t)
          tile_max = fmaxf(tile_max, fmaxf(score[m][t][2 * r], score[m][t][2 * r + 1]));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
        tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
        const float new_max = fmaxf(row_max[m][r], tile_max);
        // A row with no visible key yet keeps max -inf; subtracting 0 then avoids inf - inf.
        const float reference = new_max == -INFINITY ? 0.0f : new_max * scale_log2;
        const float correction = exp2f(row_max[m][r] * scale_log2 - reference);
        row_max[m][r] = new_max;
        float partial_sum = 0.0f;
#pragma unroll
        for (int t = 0; t < kKeyTiles8; ++t) {
#pragma unroll
          for (int e = 2 * r; e < 2 * r + 2; ++e) {
            score[m][t][e] = exp2f(fmaf(score[m][t][e], scale_log2, -reference));
            partial_sum += score[m][t][e];
          }
        }
        row_sum[m][r] = row_sum[m][r] * correction + partial_sum;  // quad-reduced at the end
#pragma unroll
        for (int t = 0; t < kDimTiles8; ++t) {
          out_acc[m][t][2 * r] *= correction;
          out_acc[m][t][2 * r + 1] *= correction;
        }
      }
    }

    // O += P V: the score accumulators of two adjacent key tiles are exactly the A fragment of
    // one 16-key step, so P never leaves registers.
#pragma unroll
    for (int s = 0; s < kKeysPerTile / 16; ++s) {
      uint32_t p_frag[kMTiles][4];
#pragma unroll
      for (int m = 0; m < kMTiles; ++m) {
        p_frag[m][0] = pack_pair<T>(score[m][2 * s][0], score[m][2 * s][1]);
        p_frag[m][1] = pack_pair<T>(score[m][2 * s][2], score[m][2 * s][3]);
        p_frag[m][2] = pack_pair<T>(score[m][2 * s + 1][0], score[m][2 * s + 1][1]);
        p_frag[m][3] = pack_pair<T>(score[m][2 * s + 1][2], score[m][2 * s + 1][3]);
      }
#pragma unroll
      for (int t = 0; t < kDimTiles8; t += 2) {
        // Matrices: keys lo/hi of dims t*8..+7, then keys lo/hi of dims t*8+8..+15.
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, v_tile + (s * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride +
                                  t * 8 + (lane >> 4) * 8);
#pragma unroll
        for (int m = 0; m < kMTiles; ++m) {
          mma_16x8x16<T>(out_acc[m][t], p_frag[m], vb[0], vb[1]);
          mma_16x8x16<T>(out_acc[m][t + 1], p_frag[m], vb[2], vb[3]);
        }
      }
    }
    __syncthreads();  // the buffer is refilled by the next iteration's prefetch
  }

  auto* out_head = static_cast<T*>(p.out.ptr) + entry.out_offset + h * p.out.head_stride;
#pragma unroll
  for (int m = 0; m < kMTiles; ++m)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float total = row_sum[m][r];
      total += __shfl_xor_sync(0xffffffffu, total, 1);
      total += __shfl_xor_sync(0xffffffffu, total, 2);
      const int row = warp_row0 + m * 16 + r * 8;
      if (row >= q_len) continue;
      const float inv = 1.0f / total;
      auto* out_row = out_head + row * p.out.row_stride + 2 * (lane % 4);
#pragma unroll
      for (int t = 0; t < kDimTiles8; ++t)
        *reinterpret_cast<Pair<T>*>(out_row + t * 8) =
            pair_from_floats<T>(out_acc[m][t][2 * r] * inv, out_acc[m][t][2 * r + 1] * inv);
    }
}

template <typename T, int kHeadDim, int kMTiles>
void launch_mma(const FlashAttentionParams& p, cudaStream_t stream) {
  static_assert(sizeof(T) == 2, "the tile layout counts 16-bit elements");
  using Layout = TileLayout<kHeadDim, kMTiles>;
  constexpr int kSmem = Layout::kSmemBytes;
  auto* kernel = flash_attention_mma_kernel<T, kHeadDim, kMTiles>;
  if constexpr (kSmem > 48 * 1024) {
    // Above 48 KB a kernel must opt in; cheap enough to repeat on every launch.
    GLMASR_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  }
  const dim3 grid((p.q_len + Layout::kRowsPerBlock - 1) / Layout::kRowsPerBlock, p.heads, p.batch);
  kernel<<<grid, kThreads, kSmem, stream>>>(p, p.scale * static_cast<float>(M_LOG2E));
  GLMASR_CUDA_CHECK_LAUNCH();
}

template <typename T>
void launch_mma_for_shape(const FlashAttentionParams& p, cudaStream_t stream, int rows_per_warp) {
  if (p.head_dim == 64 && rows_per_warp == 32)
    launch_mma<T, 64, 2>(p, stream);
  else if (p.head_dim == 64 && rows_per_warp == 16)
    launch_mma<T, 64, 1>(p, stream);
  else if (p.head_dim == 128 && rows_per_warp == 16)
    launch_mma<T, 128, 1>(p, stream);
  else
    fail(
        "flash_attention (tensor cores): expected head_dim 64 (16 or 32 rows per warp) or 128 "
        "(16 rows per warp), got head_dim ",
        p.head_dim, " with ", rows_per_warp, " rows per warp");
}

}  // namespace

void launch_flash_attention_mma(const FlashAttentionParams& p, cudaStream_t stream,
                                int rows_per_warp) {
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, launch_mma_for_shape<T>(p, stream, rows_per_warp));
}

}  // namespace glmasr::cuda::attention_internal
