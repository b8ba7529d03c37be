// The tensor-core flash-attention kernel (FlashAttention-2 layout) for head_dim 64 and 128.
//
// A block of 4 warps owns 64 query rows of one (batch, head); each warp owns 16 rows and keeps
// its Q fragments, scores and output accumulator in registers. K/V tiles of 64 keys stream
// through shared memory with cp.async, double-buffered so that the next tile loads while the
// current one is multiplied. Products use mma.sync m16n8k16 (bf16 in, fp32 accumulate); the
// softmax runs online in fp32, in the log2 domain (exp2f) with the scale folded in.
#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

#include "cuda/attention/attention_internal.h"
#include "cuda/check.h"

namespace glmasr::cuda::attention_internal {
namespace {

constexpr int kRowsPerBlock = 64;  // query rows: 4 warps x 16
constexpr int kKeysPerTile = 64;
constexpr int kThreads = 128;

template <int kHeadDim>
struct TileLayout {
  // Rows padded by 16 bytes: ldmatrix reads 8 rows at one column, and the padding spreads
  // them over all 32 banks instead of hitting the same ones.
  static constexpr int kStride = kHeadDim + 8;
  static constexpr int kTileElems = kRowsPerBlock * kStride;  // one Q, K or V tile
  static constexpr int kSmemBytes = 5 * kTileElems * 2;       // Q + 2 x K + 2 x V
};

__device__ __forceinline__ uint32_t smem_address(const void* ptr) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(ptr));
}

// 16-byte asynchronous copy; with valid false it writes zeros (rows past the sequence end).
__device__ __forceinline__ void cp_async_16(void* smem, const void* global, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_address(smem)),
               "l"(global), "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n");
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(smem)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* smem) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_address(smem)));
}

// d += a b for one 16x8x16 piece: a row-major 16x16 bf16, b col-major 16x8 bf16, d 16x8 fp32.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, "
      "{%8,%9}, {%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t pack_bf16(float lo, float hi) {
  const __nv_bfloat162 pair = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&pair);
}

// Copies rows [first, first + 64) of one head into a padded tile; rows >= limit become zeros.
template <int kHeadDim>
__device__ __forceinline__ void load_tile(__nv_bfloat16* tile, const __nv_bfloat16* head,
                                          int64_t row_stride, int first, int limit) {
  constexpr int kChunksPerRow = kHeadDim / 8;
  for (int c = threadIdx.x; c < kRowsPerBlock * kChunksPerRow; c += kThreads) {
    const int r = c / kChunksPerRow, col = (c % kChunksPerRow) * 8;
    const bool valid = first + r < limit;
    // An invalid row still needs a mapped address: point it at the head's first row.
    const __nv_bfloat16* src = head + (valid ? (first + r) * row_stride : 0) + col;
    cp_async_16(tile + r * TileLayout<kHeadDim>::kStride + col, src, valid);
  }
}

// Head dim 64: 4 resident blocks per SM, so one encoder window (24 x 20 blocks) fits in one wave.
template <int kHeadDim>
__global__ void __launch_bounds__(kThreads, kHeadDim == 64 ? 4 : 2)
    flash_attention_mma_kernel(FlashAttentionParams p, float scale_log2) {
  using Layout = TileLayout<kHeadDim>;
  constexpr int kStride = Layout::kStride;
  constexpr int kDimSteps = kHeadDim / 16;  // k-steps of Q Kᵀ
  constexpr int kKeyTiles8 = kKeysPerTile / 8;
  constexpr int kDimTiles8 = kHeadDim / 8;

  extern __shared__ __align__(16) unsigned char smem_raw[];
  auto* q_tile = reinterpret_cast<__nv_bfloat16*>(smem_raw);
  // Buffers are picked by arithmetic, not by indexing a pointer array (that would sit in local
  // memory). Tiles: Q, K0, K1, V0, V1.
  auto k_tile_of = [&](int buf) { return q_tile + (1 + buf) * Layout::kTileElems; };
  auto v_tile_of = [&](int buf) { return q_tile + (3 + buf) * Layout::kTileElems; };

  // Causal blocks near the end see the most keys: start them first.
  const int q_block = p.causal ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int h = blockIdx.y, b = blockIdx.z;
  const int kvh = h / (p.heads / p.kv_heads);
  const int q0 = q_block * kRowsPerBlock;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int causal_offset = p.kv_len - p.q_len;  // query i sees keys <= i + causal_offset

  const auto* q_head =
      static_cast<const __nv_bfloat16*>(p.q.ptr) + b * p.q.batch_stride + h * p.q.head_stride;
  const auto* k_head =
      static_cast<const __nv_bfloat16*>(p.k.ptr) + b * p.k.batch_stride + kvh * p.k.head_stride;
  const auto* v_head =
      static_cast<const __nv_bfloat16*>(p.v.ptr) + b * p.v.batch_stride + kvh * p.v.head_stride;

  int key_tiles = (p.kv_len + kKeysPerTile - 1) / kKeysPerTile;
  if (p.causal) {
    const int last_key = min(q0 + kRowsPerBlock - 1, p.q_len - 1) + causal_offset;
    key_tiles = min(key_tiles, last_key / kKeysPerTile + 1);
  }

  load_tile<kHeadDim>(q_tile, q_head, p.q.row_stride, q0, p.q_len);
  load_tile<kHeadDim>(k_tile_of(0), k_head, p.k.row_stride, 0, p.kv_len);
  load_tile<kHeadDim>(v_tile_of(0), v_head, p.v.row_stride, 0, p.kv_len);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  // This warp's 16 query rows as A fragments, one per 16-wide slice of head_dim.
  uint32_t q_frag[kDimSteps][4];
#pragma unroll
  for (int s = 0; s < kDimSteps; ++s)
    ldmatrix_x4(q_frag[s], q_tile + (warp * 16 + (lane & 15)) * kStride + s * 16 + (lane >> 4) * 8);

  float out_acc[kDimTiles8][4];
#pragma unroll
  for (int t = 0; t < kDimTiles8; ++t)
    out_acc[t][0] = out_acc[t][1] = out_acc[t][2] = out_acc[t][3] = 0.0f;
  // Each thread holds two rows of the warp's 16: lane/4 and lane/4 + 8.
  float row_max[2] = {-INFINITY, -INFINITY};
  float row_sum[2] = {0.0f, 0.0f};
  const int my_row0 = q0 + warp * 16 + lane / 4;

  for (int tile = 0; tile < key_tiles; ++tile) {
    const int buf = tile & 1;
    if (tile + 1 < key_tiles) {
      // The other buffer was last read in iteration tile-1, which ended with a barrier.
      load_tile<kHeadDim>(k_tile_of(buf ^ 1), k_head, p.k.row_stride, (tile + 1) * kKeysPerTile,
                          p.kv_len);
      load_tile<kHeadDim>(v_tile_of(buf ^ 1), v_head, p.v.row_stride, (tile + 1) * kKeysPerTile,
                          p.kv_len);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();

    const __nv_bfloat16* k_tile = k_tile_of(buf);
    const __nv_bfloat16* v_tile = v_tile_of(buf);
    const int key0 = tile * kKeysPerTile;

    // Scores S = Q Kᵀ for 16 rows x 64 keys: 8 accumulator tiles of 16x8.
    float score[kKeyTiles8][4];
#pragma unroll
    for (int t = 0; t < kKeyTiles8; ++t)
      score[t][0] = score[t][1] = score[t][2] = score[t][3] = 0.0f;
#pragma unroll
    for (int s = 0; s < kDimSteps; ++s) {
#pragma unroll
      for (int t = 0; t < kKeyTiles8; t += 2) {
        // Matrices: keys t*8..+7 (dims lo, hi), keys t*8+8..+15 (dims lo, hi).
        uint32_t kb[4];
        ldmatrix_x4(kb, k_tile + (t * 8 + (lane & 7) + ((lane >> 4) << 3)) * kStride + s * 16 +
                            ((lane >> 3) & 1) * 8);
        mma_bf16(score[t], q_frag[s], kb[0], kb[1]);
        mma_bf16(score[t + 1], q_frag[s], kb[2], kb[3]);
      }
    }

    const bool needs_mask = key0 + kKeysPerTile > p.kv_len ||
                            (p.causal && key0 + kKeysPerTile - 1 > q0 + causal_offset);
#pragma unroll
    for (int t = 0; t < kKeyTiles8; ++t) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float s = score[t][e] * scale_log2;
        if (needs_mask) {
          const int key = key0 + t * 8 + 2 * (lane % 4) + (e & 1);
          const int row = my_row0 + (e >> 1) * 8;
          if (key >= p.kv_len || (p.causal && key > row + causal_offset)) s = -INFINITY;
        }
        score[t][e] = s;
      }
    }

    // Online softmax per row: the four lanes of a quad share a row.
    float correction[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float tile_max = -INFINITY;
#pragma unroll
      for (int t = 0; t < kKeyTiles8; ++t)
        tile_max = fmaxf(tile_max, fmaxf(score[t][2 * r], score[t][2 * r + 1]));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
      tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 2));
      const float new_max = fmaxf(row_max[r], tile_max);
      // A row with no visible key yet keeps max -inf; subtracting 0 then avoids inf - inf.
      const float reference = new_max == -INFINITY ? 0.0f : new_max;
      correction[r] = exp2f(row_max[r] - reference);
      row_max[r] = new_max;
      float partial_sum = 0.0f;
#pragma unroll
      for (int t = 0; t < kKeyTiles8; ++t) {
        score[t][2 * r] = exp2f(score[t][2 * r] - reference);
        score[t][2 * r + 1] = exp2f(score[t][2 * r + 1] - reference);
        partial_sum += score[t][2 * r] + score[t][2 * r + 1];
      }
      row_sum[r] = row_sum[r] * correction[r] + partial_sum;  // quad-reduced at the end
    }
#pragma unroll
    for (int t = 0; t < kDimTiles8; ++t) {
      out_acc[t][0] *= correction[0];
      out_acc[t][1] *= correction[0];
      out_acc[t][2] *= correction[1];
      out_acc[t][3] *= correction[1];
    }

    // O += P V: the score accumulators of two adjacent key tiles are exactly the A fragment of
    // one 16-key step, so P never leaves registers.
#pragma unroll
    for (int s = 0; s < kKeysPerTile / 16; ++s) {
      const uint32_t p_frag[4] = {pack_bf16(score[2 * s][0], score[2 * s][1]),
                                  pack_bf16(score[2 * s][2], score[2 * s][3]),
                                  pack_bf16(score[2 * s + 1][0], score[2 * s + 1][1]),
                                  pack_bf16(score[2 * s + 1][2], score[2 * s + 1][3])};
#pragma unroll
      for (int t = 0; t < kDimTiles8; t += 2) {
        // Matrices: keys lo/hi of dims t*8..+7, then keys lo/hi of dims t*8+8..+15.
        uint32_t vb[4];
        ldmatrix_x4_trans(vb, v_tile + (s * 16 + (lane & 7) + ((lane >> 3) & 1) * 8) * kStride +
                                  t * 8 + (lane >> 4) * 8);
        mma_bf16(out_acc[t], p_frag, vb[0], vb[1]);
        mma_bf16(out_acc[t + 1], p_frag, vb[2], vb[3]);
      }
    }
    __syncthreads();  // the buffer is refilled by the next iteration's prefetch
  }

  auto* out_head =
      static_cast<__nv_bfloat16*>(p.out.ptr) + b * p.out.batch_stride + h * p.out.head_stride;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float total = row_sum[r];
    total += __shfl_xor_sync(0xffffffffu, total, 1);
    total += __shfl_xor_sync(0xffffffffu, total, 2);
    const int row = my_row0 + r * 8;
    if (row >= p.q_len) continue;
    const float inv = 1.0f / total;
    auto* out_row = out_head + row * p.out.row_stride + 2 * (lane % 4);
#pragma unroll
    for (int t = 0; t < kDimTiles8; ++t)
      *reinterpret_cast<__nv_bfloat162*>(out_row + t * 8) =
          __floats2bfloat162_rn(out_acc[t][2 * r] * inv, out_acc[t][2 * r + 1] * inv);
  }
}

template <int kHeadDim>
void launch_for_head_dim(const FlashAttentionParams& p, cudaStream_t stream) {
  constexpr int kSmem = TileLayout<kHeadDim>::kSmemBytes;
  auto* kernel = flash_attention_mma_kernel<kHeadDim>;
  if constexpr (kSmem > 48 * 1024) {
    // Above 48 KB a kernel must opt in; cheap enough to repeat on every launch.
    GLMASR_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  }
  const dim3 grid((p.q_len + kRowsPerBlock - 1) / kRowsPerBlock, p.heads, p.batch);
  kernel<<<grid, kThreads, kSmem, stream>>>(p, p.scale * static_cast<float>(M_LOG2E));
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace

void launch_flash_attention_mma(const FlashAttentionParams& p, cudaStream_t stream) {
  if (p.head_dim == 64)
    launch_for_head_dim<64>(p, stream);
  else if (p.head_dim == 128)
    launch_for_head_dim<128>(p, stream);
  else
    fail("flash_attention (tensor cores): head_dim: expected 64 or 128, got ", p.head_dim);
}

}  // namespace glmasr::cuda::attention_internal
