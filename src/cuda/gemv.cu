#include "cuda/check.h"
#include "cuda/dependent_launch.cuh"
#include "cuda/element.cuh"
#include "cuda/gemv.h"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;
constexpr int kRows = 8;  // weight rows per block: 8 independent 16-byte loads per thread

// kMaxBatch is 1 for the batch-1 step (a few registers, so more blocks per SM and more loads in
// flight) or kGemvMaxBatch.
template <typename T, int kMaxBatch>
__global__ void __launch_bounds__(kThreads, kMaxBatch == 1 ? 3 : 2) gemv_kernel(GemvParams p) {
  __shared__ float inv_rms[kMaxBatch];
  __shared__ float partial[kWarps][kRows * kMaxBatch];
  // Every block of the next kernel may start now: it only loads weights until its own wait.
  allow_next_kernel();
  const T* w = static_cast<const T*>(p.w);
  const T* x = static_cast<const T*>(p.x);
  const T* norm_weight = static_cast<const T*>(p.norm_weight);
  const int64_t chunks = p.in / 8;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int batch = p.batch;
  const bool rope = p.rope.head_dim > 0;
  const int half = p.rope.head_dim / 2;
  const int64_t rope_pairs = int64_t{p.rope.heads + p.rope.kv_heads} * half;
  const int64_t rope_pair_blocks = (rope_pairs + kRows / 2 - 1) / (kRows / 2);
  // Blocks of pairs: kRows/2 (gate, up) or (d, d + half) row pairs; else kRows plain rows.
  const bool paired = p.swiglu_width > 0 || (rope && blockIdx.x < rope_pair_blocks);

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
  Vec8<T> wv[kRows];
  if (c0 < chunks) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) wv[r] = load8_stream(w + int64_t{row[r]} * p.in + c0 * 8);
  }
  wait_for_previous_kernel();

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
          const Vec8<T> v = load8(x + b * p.ldx + c * 8);
#pragma unroll
          for (int i = 0; i < 8; ++i)
            squares[b] = fmaf(to_float(v.e[i]), to_float(v.e[i]), squares[b]);
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
      for (int r = 0; r < kRows; ++r) wv[r] = load8_stream(w + int64_t{row[r]} * p.in + c * 8);
    }
    Vec8<T> nw;
    if (norm_weight) nw = load8(norm_weight + c * 8);
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) {
      if (b < batch) {
        const Vec8<T> xv = load8(x + b * p.ldx + c * 8);
        float xf[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          xf[i] = to_float(xv.e[i]);
          if (norm_weight) xf[i] = round_to<T>(to_float(nw.e[i]) * round_to<T>(xf[i] * inv_rms[b]));
        }
#pragma unroll
        for (int r = 0; r < kRows; ++r)
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[r][b] = fmaf(to_float(wv[r].e[i]), xf[i], acc[r][b]);
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
  const int t = threadIdx.x;
  auto total = [&](int r, int b) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kWarps; ++k) s += partial[k][r * kMaxBatch + b];
    return s;
  };
  T* y = static_cast<T*>(p.y);
  const T* residual = static_cast<const T*>(p.residual);
  const int r = t / kMaxBatch, b = t % kMaxBatch;
  if (rope) {
    const GemvRopeEpilogue& e = p.rope;
    if (paired) {
      const int64_t pair = static_cast<int64_t>(blockIdx.x) * (kRows / 2) + r;
      if (r < kRows / 2 && b < batch && pair < rope_pairs) {
        const int head = static_cast<int>(pair / half), d = static_cast<int>(pair % half);
        const int position = e.positions[b];
        const float c = to_float(static_cast<const T*>(e.cos)[int64_t{position} * half + d]);
        const float s = to_float(static_cast<const T*>(e.sin)[int64_t{position} * half + d]);
        // q*cos + rotate_half(q)*sin with every product rounded, as the bf16 reference does.
        const float x1 = round_to<T>(total(r, b)), x2 = round_to<T>(total(r + kRows / 2, b));
        const T y1 = from_float<T>(round_to<T>(x1 * c) - round_to<T>(x2 * s));
        const T y2 = from_float<T>(round_to<T>(x2 * c) + round_to<T>(x1 * s));
        T* dst;
        if (head < e.heads) {
          dst = static_cast<T*>(e.q_out) + (int64_t{b} * e.heads + head) * e.head_dim;
        } else {
          dst = static_cast<T*>(e.k_cache) +
                ((int64_t{e.slots[b]} * e.kv_heads + (head - e.heads)) * e.max_seq + position) *
                    e.head_dim;
        }
        dst[d] = y1;
        dst[d + half] = y2;
      }
    } else {
      const int64_t n = rope_pairs * 2 + (blockIdx.x - rope_pair_blocks) * kRows + r;
      if (r < kRows && b < batch && n < p.out) {
        const int64_t v = n - rope_pairs * 2;
        const int kv_head = static_cast<int>(v / e.head_dim), d = static_cast<int>(v % e.head_dim);
        T* dst = static_cast<T*>(e.v_cache) +
                 ((int64_t{e.slots[b]} * e.kv_heads + kv_head) * e.max_seq + e.positions[b]) *
                     e.head_dim;
        dst[d] = from_float<T>(total(r, b));
      }
    }
  } else if (p.swiglu_width > 0) {
    const int64_t f = static_cast<int64_t>(blockIdx.x) * (kRows / 2) + r;
    if (r < kRows / 2 && b < batch && f < p.swiglu_width) {
      const float g = round_to<T>(total(r, b));
      const float u = round_to<T>(total(r + kRows / 2, b));
      float v = round_to<T>(round_to<T>(g / (1.0f + expf(-g))) * u);
      if (residual) v = to_float(residual[b * p.ldy + f]) + v;
      y[b * p.ldy + f] = from_float<T>(v);
    }
  } else {
    const int64_t n = static_cast<int64_t>(blockIdx.x) * kRows + r;
    if (r < kRows && b < batch && n < p.out) {
      float v = round_to<T>(total(r, b));
      if (residual) v = to_float(residual[b * p.ldy + n]) + v;
      y[b * p.ldy + n] = from_float<T>(v);
    }
  }
}

}  // namespace

bool gemv_supported(int batch, int64_t in) {
  return batch >= 1 && batch <= kGemvMaxBatch && in > 0 && in % 8 == 0;
}

void gemv(const GemvParams& given, cudaStream_t stream) {
  GemvParams p = given;
  GLMASR_CHECK(gemv_supported(p.batch, p.in), "gemv: expected batch 1..", kGemvMaxBatch,
               " and an input width that is a multiple of 8, got batch ", p.batch, " and width ",
               p.in);
  if (p.ldx == 0) p.ldx = p.in;
  const int64_t width = p.swiglu_width > 0 ? p.swiglu_width : p.out;
  if (p.ldy == 0) p.ldy = width;
  GLMASR_CHECK(p.ldx % 8 == 0, "gemv: expected a row stride of x that is a multiple of 8, got ",
               p.ldx);
  int64_t blocks = p.swiglu_width > 0 ? (p.swiglu_width + kRows / 2 - 1) / (kRows / 2)
                                      : (p.out + kRows - 1) / kRows;
  const GemvRopeEpilogue& rope = p.rope;
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
    if (p.batch == 1)
      launch_dependent(gemv_kernel<T, 1>, static_cast<unsigned>(blocks), kThreads, stream, p);
    else
      launch_dependent(gemv_kernel<T, kGemvMaxBatch>, static_cast<unsigned>(blocks), kThreads,
                       stream, p);
  });
}

}  // namespace glmasr::cuda
