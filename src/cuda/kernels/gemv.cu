#include <type_traits>

#include "cuda/check.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/e4m3.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/gemv.h"

namespace glmasr::cuda {
namespace {

constexpr int kRows = 8;  // weight rows per block: 8 independent 16-byte loads per thread
// Threads per block: one 16-byte load of a row each covers 256 * 8 = 2048 bf16 inputs (the
// model's hidden width: one load per row and thread). A load carries twice the fp8 weights, so
// fp8 blocks have half the threads: with 256, half of them idled at width 2048 (measured on the
// H200: the fp8 step no faster than the bf16 one), and the down projection's 6144 inputs now
// split into three even rounds instead of one and a half.
template <bool kFp8>
constexpr int kBlockThreads = kFp8 ? 128 : 256;

// 16 bytes global -> shared without passing through registers (completes at wait_copies_async).
__device__ __forceinline__ void copy16_async(void* shared, const void* global) {
  const auto address = static_cast<uint32_t>(__cvta_generic_to_shared(shared));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(address), "l"(global) : "memory");
}
__device__ __forceinline__ void wait_copies_async() {
  asm volatile("cp.async.wait_all;" ::: "memory");
}

// Weights are streamed once per step: keep them out of L1 so activations stay there.
__device__ __forceinline__ uint4 load16_stream(const void* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

// Weights in one 16-byte load: 8 in the element type, 16 E4M3 codes.
template <bool kFp8>
constexpr int kChunkWeights = kFp8 ? 16 : 8;

// acc + the dot product of one 16-byte load of weights with xf, in input order. The weights
// widen exactly (every E4M3 value is an fp16 value; Hopper converts a pair of codes in one
// instruction), a pair at a time so that few of them are live at once.
template <typename T, bool kFp8>
__device__ __forceinline__ float dot_chunk(const uint4& raw, const float (&xf)[kChunkWeights<kFp8>],
                                           float acc) {
  if constexpr (kFp8) {
    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
    acc = dot_e4m3(words, xf, acc);
  } else {
    Vec8<T> v;
    v.raw = raw;
#pragma unroll
    for (int i = 0; i < 8; ++i) acc = fmaf(to_float(v.e[i]), xf[i], acc);
  }
  return acc;
}

// What the RoPE epilogue reads for the output a thread finishes (row pair r or v row r of the
// block, batch row b), loaded before the wait.
struct RopeInputs {
  int position = 0, slot = 0;
  float cos = 0.0f, sin = 0.0f;
};

// The (d, d + half) row pair that thread row r of a RoPE pair block finishes, or -1.
__device__ __forceinline__ int64_t rope_pair_of(int r, int64_t rope_pairs) {
  const int64_t pair = static_cast<int64_t>(blockIdx.x) * (kRows / 2) + r;
  return r < kRows / 2 && pair < rope_pairs ? pair : -1;
}

// The output row (a v row, after the 2 * rope_pairs q/k rows) that thread row r of a RoPE
// v block finishes, or -1.
__device__ __forceinline__ int64_t rope_v_row_of(const GemvParams& p, int r, int64_t rope_pairs,
                                                 int64_t rope_pair_blocks) {
  const int64_t n = rope_pairs * 2 + (blockIdx.x - rope_pair_blocks) * kRows + r;
  return r < kRows && n < p.out ? n : -1;
}

template <typename T>
__device__ __forceinline__ RopeInputs load_rope_inputs(const GemvParams& p, bool paired, int r,
                                                       int b, int64_t rope_pairs,
                                                       int64_t rope_pair_blocks) {
  const QkvRopeEpilogue& e = p.rope;
  const int half = e.head_dim / 2;
  RopeInputs in;
  if (paired) {
    const int64_t pair = rope_pair_of(r, rope_pairs);
    if (pair < 0) return in;
    const int d = static_cast<int>(pair % half);
    in.position = e.positions[b];
    in.slot = e.slots[b];
    in.cos = to_float(static_cast<const T*>(e.cos)[int64_t{in.position} * half + d]);
    in.sin = to_float(static_cast<const T*>(e.sin)[int64_t{in.position} * half + d]);
  } else {
    if (rope_v_row_of(p, r, rope_pairs, rope_pair_blocks) < 0) return in;
    in.position = e.positions[b];
    in.slot = e.slots[b];
  }
  return in;
}

// What follows the product; a template parameter so that each kernel keeps only the registers
// of its own epilogue live.
enum class GemvEpilogue { kPlain, kSwiglu, kRope };

// The output column (of y) that thread row r of this block finishes in the plain or SwiGLU
// epilogue, or -1: SwiGLU blocks own kRows/2 (gate, up) pairs, plain blocks kRows rows.
template <bool kSwiglu>
__device__ __forceinline__ int64_t epilogue_column(const GemvParams& p, int r) {
  constexpr int kColumns = kSwiglu ? kRows / 2 : kRows;
  const int64_t column = static_cast<int64_t>(blockIdx.x) * kColumns + r;
  return r < kColumns && column < (kSwiglu ? p.swiglu_width : p.out) ? column : -1;
}

// kMaxBatch is 1 for the batch-1 step (a few registers, so more blocks per SM and more loads in
// flight), 2, 4 or kGemvMaxBatch: the smallest that holds the batch. kFp8: the weights are E4M3
// codes with per-row scales. A chunk is what one 16-byte weight load covers: kElems inputs, read
// from x (and the norm weight) as kXVecs 16-byte vectors. kBlocksPerSm: the blocks of 256
// threads per SM the registers are allocated for (GemvParams::blocks_per_sm).
template <typename T, bool kFp8, int kMaxBatch, GemvEpilogue kEpilogue,
          int kBlocksPerSm = kMaxBatch == 1 ? 3 : 2>
__global__ void __launch_bounds__(kBlockThreads<kFp8>, kBlocksPerSm * 256 / kBlockThreads<kFp8>)
    gemv_kernel(GemvParams p) {
  constexpr int kThreads = kBlockThreads<kFp8>, kWarps = kThreads / 32;
  static_assert(kRows * kMaxBatch <= kThreads, "a thread finishes each output of the block");
  constexpr bool kSwiglu = kEpilogue == GemvEpilogue::kSwiglu;
  constexpr int kElems = kChunkWeights<kFp8>, kXVecs = kElems / 8;
  __shared__ float inv_rms[kMaxBatch];
  __shared__ float partial[kWarps][kRows * kMaxBatch];
  __shared__ float row_scale[kFp8 ? kRows : 1];  // w_scale of the block's rows
  // Every block of the next kernel may start now: it only loads weights until its own wait.
  allow_next_kernel();
  // Addressed in weights, as row * in + column, so that the strides stay kernel parameters
  // instead of live registers.
  using Weight = std::conditional_t<kFp8, uint8_t, T>;
  const Weight* w = static_cast<const Weight*>(p.w);
  const T* x = static_cast<const T*>(p.x);
  const T* norm_weight = static_cast<const T*>(p.norm_weight);
  const int64_t chunks = p.in / kElems;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int batch = p.batch;
  constexpr bool rope = kEpilogue == GemvEpilogue::kRope;
  const int half = p.rope.head_dim / 2;
  const int64_t rope_pairs = int64_t{p.rope.heads + p.rope.kv_heads} * half;
  const int64_t rope_pair_blocks = (rope_pairs + kRows / 2 - 1) / (kRows / 2);
  // Blocks of pairs: kRows/2 (gate, up) or (d, d + half) row pairs; else kRows plain rows.
  const bool paired = kSwiglu || (rope && blockIdx.x < rope_pair_blocks);

  // The weight rows of this block (32-bit: a row index fits, and it saves registers).
  int row[kRows];
  bool valid[kRows];
  if (paired) {
    const int64_t first = static_cast<int64_t>(blockIdx.x) * (kRows / 2);
#pragma unroll
    for (int r = 0; r < kRows / 2; ++r) {
      const int64_t pair = first + r;
      valid[r] = valid[r + kRows / 2] = pair < (rope ? rope_pairs : p.swiglu_width);
      if (rope) {
        const int head = static_cast<int>(pair / half), d = static_cast<int>(pair % half);
        row[r] = valid[r] ? head * p.rope.head_dim + d : 0;
        row[r + kRows / 2] = valid[r] ? head * p.rope.head_dim + d + half : 0;
      } else {
        row[r] = valid[r] ? static_cast<int>(pair) : 0;
        row[r + kRows / 2] = valid[r] ? static_cast<int>(p.swiglu_width + pair) : 0;
      }
    }
  } else {
    const int64_t first = rope ? rope_pairs * 2 + (blockIdx.x - rope_pair_blocks) * kRows
                               : static_cast<int64_t>(blockIdx.x) * kRows;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      valid[r] = first + r < p.out;
      row[r] = valid[r] ? static_cast<int>(first + r) : 0;
    }
  }

  // The first weight tile (all of it when in <= 8 * kThreads) does not depend on the previous
  // kernel: its loads overlap that kernel's tail.
  const int64_t c0 = threadIdx.x;
  const int t = threadIdx.x;
  const int r = t / kMaxBatch, b = t % kMaxBatch;  // the output this thread finishes
  uint4 wv[kRows];
  if (c0 < chunks) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) wv[r] = load16_stream(w + int64_t{row[r]} * p.in + c0 * kElems);
  }
  // The scales are weights too: read before the wait (the epilogue reads them after the
  // block's barrier).
  if constexpr (kFp8) {
#pragma unroll
    for (int r = 0; r < kRows; ++r)
      if (threadIdx.x == r) row_scale[r] = __ldg(p.w_scale + row[r]);
  }
  // So are the norm weight's first chunk, and what the RoPE epilogue reads besides the sums
  // (positions and slots come from the host, cos/sin are tables): after the wait only x and the
  // residual are read, and each block's critical path holds one memory latency less.
  // The RoPE kernel, whose epilogue holds more, takes the norm weight into shared memory by
  // cp.async (no registers held across the wait); the others keep it in registers. Shared
  // memory stays as small as each epilogue allows: with the driver's carveouts a 4 KB array in
  // the gate|up kernel cost 4 us per layer on the H100 (0.515 -> 0.647 ms for 28 layers). Which
  // shared-memory/L1 split each launch asks for is the caller's (GemvParams::shared_carveout).
  __shared__ uint4 shared_norm_weight[rope ? kThreads * kXVecs : 1];
  Vec8<T> first_norm_weight[kXVecs];
  if (norm_weight && c0 < chunks) {
#pragma unroll
    for (int v = 0; v < kXVecs; ++v) {
      if constexpr (rope)
        copy16_async(&shared_norm_weight[t * kXVecs + v], norm_weight + c0 * kElems + v * 8);
      else
        first_norm_weight[v] = load8(norm_weight + c0 * kElems + v * 8);
    }
  }

  // Through shared memory: held in registers across the product they spilled.
  __shared__ RopeInputs rope_inputs[rope ? kRows * kMaxBatch : 1];
  if constexpr (rope)
    if (b < batch && r < kRows)
      rope_inputs[t] = load_rope_inputs<T>(p, paired, r, b, rope_pairs, rope_pair_blocks);
  wait_for_previous_kernel();
  float residual_in = 0.0f;
  if constexpr (!rope) {
    const int64_t column = epilogue_column<kSwiglu>(p, r);
    if (p.residual && b < batch && column >= 0)
      residual_in = to_float(static_cast<const T*>(p.residual)[b * p.ldy + column]);
  }

  if (norm_weight) {
    // All threads sum the squares of the chunks they multiply below (one load each when
    // in <= 8 * kThreads, one latency instead of a warp walking the row); x stays in L1.
    float squares[kMaxBatch];
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) squares[b] = 0.0f;
    for (int64_t c = c0; c < chunks; c += kThreads) {
#pragma unroll
      for (int b = 0; b < kMaxBatch; ++b) {
        if (b < batch) {
#pragma unroll
          for (int u = 0; u < kXVecs; ++u) {
            const Vec8<T> v = load8(x + b * p.ldx + c * kElems + u * 8);
#pragma unroll
            for (int i = 0; i < 8; ++i)
              squares[b] = fmaf(to_float(v.e[i]), to_float(v.e[i]), squares[b]);
          }
        }
      }
    }
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) {
      if (b < batch) {
        const float v = warp_sum(squares[b]);
        if (lane == 0) partial[warp][b] = v;
      }
    }
    __syncthreads();
    if (threadIdx.x < batch) {
      float sum = 0.0f;
#pragma unroll
      for (int k = 0; k < kWarps; ++k) sum += partial[k][threadIdx.x];
      inv_rms[threadIdx.x] = rsqrtf(sum / static_cast<float>(p.in) + p.eps);
    }
    __syncthreads();
  }

  float acc[kRows][kMaxBatch];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) acc[r][b] = 0.0f;

  for (int64_t c = c0; c < chunks; c += kThreads) {
    if (c != c0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r)
        wv[r] = load16_stream(w + int64_t{row[r]} * p.in + c * kElems);
    }
    Vec8<T> nw[kXVecs];
    if (norm_weight) {
      if (c == c0) {
        if constexpr (rope) {
          wait_copies_async();
#pragma unroll
          for (int v = 0; v < kXVecs; ++v)
            first_norm_weight[v].raw = shared_norm_weight[t * kXVecs + v];
        }
#pragma unroll
        for (int v = 0; v < kXVecs; ++v) nw[v] = first_norm_weight[v];
      } else {
#pragma unroll
        for (int v = 0; v < kXVecs; ++v) nw[v] = load8(norm_weight + c * kElems + v * 8);
      }
    }
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) {
      if (b < batch) {
        float xf[kElems];
#pragma unroll
        for (int v = 0; v < kXVecs; ++v) {
          const Vec8<T> xv = load8(x + b * p.ldx + c * kElems + v * 8);
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            float value = to_float(xv.e[i]);
            if (norm_weight)
              value = round_to<T>(to_float(nw[v].e[i]) * round_to<T>(value * inv_rms[b]));
            xf[v * 8 + i] = value;
          }
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r) acc[r][b] = dot_chunk<T, kFp8>(wv[r], xf, acc[r][b]);
      }
    }
  }

#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) {
      if (b < batch) {
        const float v = warp_sum(acc[r][b]);
        if (lane == 0) partial[warp][r * kMaxBatch + b] = v;
      }
    }
  __syncthreads();

  // Indices are recomputed here: indexing row[]/valid[] with a run-time value would move them
  // to local memory.
  auto total = [&](int r, int b) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) s += partial[k][r * kMaxBatch + b];
    if constexpr (kFp8) s *= row_scale[r];
    return s;
  };
  T* y = static_cast<T*>(p.y);
  if constexpr (rope) {
    const QkvRopeEpilogue& e = p.rope;
    const RopeInputs rope_in = rope_inputs[t < kRows * kMaxBatch ? t : 0];
    if (paired) {
      const int64_t pair = rope_pair_of(r, rope_pairs);
      if (b < batch && pair >= 0) {
        const int head = static_cast<int>(pair / half), d = static_cast<int>(pair % half);
        const int position = rope_in.position;
        const float c = rope_in.cos, s = rope_in.sin;
        // q*cos + rotate_half(q)*sin with every product rounded, as the bf16 reference does.
        const float x1 = round_to<T>(total(r, b)), x2 = round_to<T>(total(r + kRows / 2, b));
        const T y1 = from_float<T>(round_to<T>(x1 * c) - round_to<T>(x2 * s));
        const T y2 = from_float<T>(round_to<T>(x2 * c) + round_to<T>(x1 * s));
        T* dst;
        if (head < e.heads) {
          dst = static_cast<T*>(e.q_out) + (int64_t{b} * e.heads + head) * e.head_dim;
        } else {
          dst = static_cast<T*>(e.k_cache) + e.kv().offset(rope_in.slot, head - e.heads, position);
        }
        dst[d] = y1;
        dst[d + half] = y2;
      }
    } else {
      const int64_t n = rope_v_row_of(p, r, rope_pairs, rope_pair_blocks);
      if (b < batch && n >= 0) {
        const int64_t v = n - rope_pairs * 2;
        const int kv_head = static_cast<int>(v / e.head_dim), d = static_cast<int>(v % e.head_dim);
        T* dst =
            static_cast<T*>(e.v_cache) + e.kv().offset(rope_in.slot, kv_head, rope_in.position);
        dst[d] = from_float<T>(total(r, b));
      }
    }
  } else if (kSwiglu) {
    const int64_t f = epilogue_column<true>(p, r);
    if (b < batch && f >= 0) {
      const float g = round_to<T>(total(r, b));
      const float u = round_to<T>(total(r + kRows / 2, b));
      float v = round_to<T>(round_to<T>(g / (1.0f + expf(-g))) * u);
      if (p.residual) v = residual_in + v;
      y[b * p.ldy + f] = from_float<T>(v);
    }
  } else {
    const int64_t n = epilogue_column<false>(p, r);
    if (b < batch && n >= 0) {
      float v = round_to<T>(total(r, b));
      if (p.residual) v = residual_in + v;
      y[b * p.ldy + n] = from_float<T>(v);
    }
  }
}

template <typename T, bool kFp8, GemvEpilogue kEpilogue>
void launch_gemv(const GemvParams& p, int64_t blocks, cudaStream_t stream) {
  const DependentLaunch launch{dim3(static_cast<unsigned>(blocks)), kBlockThreads<kFp8>, stream,
                               p.shared_carveout};
  // The rows a kernel holds in registers are fixed at compile time: each batch takes the
  // smallest instance that fits it (a batch of 2 in the 8-row kernel cost what 8 rows cost).
  static_assert(kGemvMaxBatch == 8, "instances below are 1, 2, 4 and 8 rows");
  if (p.batch == 1 && p.blocks_per_sm == 4)
    launch_dependent(gemv_kernel<T, kFp8, 1, kEpilogue, 4>, launch, p);
  else if (p.batch == 1)
    launch_dependent(gemv_kernel<T, kFp8, 1, kEpilogue>, launch, p);
  else if (p.batch == 2)
    launch_dependent(gemv_kernel<T, kFp8, 2, kEpilogue>, launch, p);
  else if (p.batch <= 4)
    launch_dependent(gemv_kernel<T, kFp8, 4, kEpilogue>, launch, p);
  else
    launch_dependent(gemv_kernel<T, kFp8, kGemvMaxBatch, kEpilogue>, launch, p);
}

template <typename T, bool kFp8>
void launch_gemv_epilogue(const GemvParams& p, int64_t blocks, cudaStream_t stream) {
  if (p.rope.head_dim > 0)
    launch_gemv<T, kFp8, GemvEpilogue::kRope>(p, blocks, stream);
  else if (p.swiglu_width > 0)
    launch_gemv<T, kFp8, GemvEpilogue::kSwiglu>(p, blocks, stream);
  else
    launch_gemv<T, kFp8, GemvEpilogue::kPlain>(p, blocks, stream);
}

}  // namespace

bool gemv_supported(int batch, int64_t in, bool fp8_weights) {
  const int64_t per_load = fp8_weights ? kChunkWeights<true> : kChunkWeights<false>;
  return batch >= 1 && batch <= kGemvMaxBatch && in > 0 && in % per_load == 0;
}

void gemv(const GemvParams& given, cudaStream_t stream) {
  GemvParams p = given;
  const bool fp8 = p.w_scale != nullptr;
  GLMASR_CHECK(gemv_supported(p.batch, p.in, fp8), "gemv: expected batch 1..", kGemvMaxBatch,
               " and an input width that is a multiple of ", fp8 ? 16 : 8,
               fp8 ? " (fp8 weights)" : "", ", got batch ", p.batch, " and width ", p.in);
  if (p.ldx == 0) p.ldx = p.in;
  const int64_t width = p.swiglu_width > 0 ? p.swiglu_width : p.out;
  if (p.ldy == 0) p.ldy = width;
  GLMASR_CHECK(p.ldx % 8 == 0, "gemv: expected a row stride of x that is a multiple of 8, got ",
               p.ldx);
  GLMASR_CHECK(p.blocks_per_sm == 0 || (p.blocks_per_sm == 4 && p.batch == 1),
               "gemv: blocks_per_sm: expected 0 (the default) or 4 at batch 1, got ",
               p.blocks_per_sm, " at batch ", p.batch);
  GLMASR_CHECK(p.shared_carveout >= -1 && p.shared_carveout <= 100,
               "gemv: shared_carveout: expected -1 (the driver's choice) or a percent 0..100, got ",
               p.shared_carveout);
  int64_t blocks = p.swiglu_width > 0 ? (p.swiglu_width + kRows / 2 - 1) / (kRows / 2)
                                      : (p.out + kRows - 1) / kRows;
  const QkvRopeEpilogue& rope = p.rope;
  if (rope.head_dim > 0) {
    const int64_t pairs = int64_t{rope.heads + rope.kv_heads} * (rope.head_dim / 2);
    const int64_t v_rows = int64_t{rope.kv_heads} * rope.head_dim;
    GLMASR_CHECK(rope.head_dim % 2 == 0 && rope.heads > 0 && rope.kv_heads > 0 &&
                     p.out == 2 * pairs + v_rows && p.swiglu_width == 0 && !p.residual &&
                     rope.cos && rope.sin && rope.positions && rope.slots && rope.q_out &&
                     rope.k_cache && rope.v_cache && rope.max_seq > 0,
                 "gemv rope epilogue: expected an even head_dim, out = (heads + 2 kv_heads) * "
                 "head_dim, no swiglu/residual and every table/cache pointer set; got head_dim ",
                 rope.head_dim, ", out ", p.out, " for ", rope.heads, "/", rope.kv_heads, " heads");
    blocks = (pairs + kRows / 2 - 1) / (kRows / 2) + (v_rows + kRows - 1) / kRows;
  }
  if (blocks == 0) return;
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
    if (fp8)
      launch_gemv_epilogue<T, true>(p, blocks, stream);
    else
      launch_gemv_epilogue<T, false>(p, blocks, stream);
  });
}

}  // namespace glmasr::cuda
