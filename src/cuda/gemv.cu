#include "cuda/check.h"
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
__global__ void __launch_bounds__(kThreads) gemv_kernel(GemvParams p) {
  __shared__ float inv_rms[kMaxBatch];
  __shared__ float partial[kWarps][kRows * kMaxBatch];
  const T* w = static_cast<const T*>(p.w);
  const T* x = static_cast<const T*>(p.x);
  const T* norm_weight = static_cast<const T*>(p.norm_weight);
  const int64_t chunks = p.in / 8;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int batch = p.batch;

  // The weight rows of this block: plain, or kRows/2 gate rows and their up rows.
  int64_t row[kRows];
  bool valid[kRows];
  if (p.swiglu_width > 0) {
    const int64_t first = static_cast<int64_t>(blockIdx.x) * (kRows / 2);
#pragma unroll
    for (int r = 0; r < kRows / 2; ++r) {
      valid[r] = valid[r + kRows / 2] = first + r < p.swiglu_width;
      row[r] = valid[r] ? first + r : 0;
      row[r + kRows / 2] = valid[r] ? p.swiglu_width + first + r : 0;
    }
  } else {
    const int64_t first = static_cast<int64_t>(blockIdx.x) * kRows;
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      valid[r] = first + r < p.out;
      row[r] = valid[r] ? first + r : 0;
    }
  }

  if (norm_weight) {
    // Warp b computes the RMS scale of row b; x stays in L1 for the product below.
    if (warp < batch) {
      const T* xb = x + warp * p.ldx;
      float sum = 0.0f;
      for (int64_t c = lane; c < chunks; c += 32) {
        const Vec8<T> v = load8(xb + c * 8);
#pragma unroll
        for (int i = 0; i < 8; ++i) sum += to_float(v.e[i]) * to_float(v.e[i]);
      }
      sum = warp_sum(sum);
      if (lane == 0) inv_rms[warp] = rsqrtf(sum / static_cast<float>(p.in) + p.eps);
    }
    __syncthreads();
  }

  float acc[kRows][kMaxBatch];
#pragma unroll
  for (int r = 0; r < kRows; ++r)
#pragma unroll
    for (int b = 0; b < kMaxBatch; ++b) acc[r][b] = 0.0f;

  for (int64_t c = threadIdx.x; c < chunks; c += kThreads) {
    Vec8<T> wv[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) wv[r] = load8_stream(w + row[r] * p.in + c * 8);
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
  if (p.swiglu_width > 0) {
    const int r = t / kMaxBatch, b = t % kMaxBatch;
    const int64_t f = static_cast<int64_t>(blockIdx.x) * (kRows / 2) + r;
    if (r < kRows / 2 && b < batch && f < p.swiglu_width) {
      const float g = round_to<T>(total(r, b));
      const float u = round_to<T>(total(r + kRows / 2, b));
      float v = round_to<T>(round_to<T>(g / (1.0f + expf(-g))) * u);
      if (residual) v = to_float(residual[b * p.ldy + f]) + v;
      y[b * p.ldy + f] = from_float<T>(v);
    }
  } else {
    const int r = t / kMaxBatch, b = t % kMaxBatch;
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
  const int64_t blocks = p.swiglu_width > 0 ? (p.swiglu_width + kRows / 2 - 1) / (kRows / 2)
                                            : (p.out + kRows - 1) / kRows;
  if (blocks == 0) return;
  GLMASR_DISPATCH_ELEMENT(p.dtype, T, {
    if (p.batch == 1)
      gemv_kernel<T, 1><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
    else
      gemv_kernel<T, kGemvMaxBatch><<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
