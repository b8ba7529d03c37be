#include <cstdint>

#include "cuda/check.h"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/layer_norm.h"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void layer_norm_kernel(const T* x, int dim, const T* __restrict__ weight,
                                  const T* __restrict__ bias, float eps, T* y) {
  __shared__ float scratch[32];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * dim;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) sum += to_float(row[i]);
  const float mean = block_sum(sum, scratch) / static_cast<float>(dim);
  // Two passes over the row (it sits in L1) avoid the cancellation of E[x^2] - mean^2.
  float squares = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float d = to_float(row[i]) - mean;
    squares += d * d;
  }
  const float inv = rsqrtf(block_sum(squares, scratch) / static_cast<float>(dim) + eps);
  T* out = y + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    out[i] =
        from_float<T>((to_float(row[i]) - mean) * inv * to_float(weight[i]) + to_float(bias[i]));
}

// One warp per row for widths that are a multiple of 8 (16-byte vectors) up to 32 * 8 * kVecs:
// the row stays in registers between the mean, the variance and the output, every access is a
// 16-byte load, and no block-wide barrier is needed. The encoder's 1280-wide rows were the
// reason (the block kernel above ran at a fraction of the copy rate there). Same arithmetic:
// float32 mean, then the mean of squared differences, one rounding at the end.
template <typename T, int kVecs>
__global__ void layer_norm_warp_kernel(const T* x, int64_t rows, int dim,
                                       const T* __restrict__ weight, const T* __restrict__ bias,
                                       float eps, T* y) {
  const int lane = threadIdx.x & 31;
  const int64_t row = static_cast<int64_t>(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  if (row >= rows) return;
  const int vectors = dim / 8;
  const T* in = x + row * dim;
  Vec8<T> v[kVecs];
  float sum = 0.0f;
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int c = (k * 32 + lane);
    if (c < vectors) {
      v[k].raw = *reinterpret_cast<const uint4*>(in + c * 8);
#pragma unroll
      for (int e = 0; e < 8; ++e) sum += to_float(v[k].e[e]);
    }
  }
  const float mean = warp_sum(sum) / static_cast<float>(dim);
  float squares = 0.0f;
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    if (k * 32 + lane < vectors) {
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const float d = to_float(v[k].e[e]) - mean;
        squares += d * d;
      }
    }
  }
  const float inv = rsqrtf(warp_sum(squares) / static_cast<float>(dim) + eps);
  T* out = y + row * dim;
#pragma unroll
  for (int k = 0; k < kVecs; ++k) {
    const int c = (k * 32 + lane);
    if (c < vectors) {
      const Vec8<T> w = load8(weight + c * 8), b = load8(bias + c * 8);
      Vec8<T> o;
#pragma unroll
      for (int e = 0; e < 8; ++e)
        o.e[e] =
            from_float<T>((to_float(v[k].e[e]) - mean) * inv * to_float(w.e[e]) + to_float(b.e[e]));
      *reinterpret_cast<uint4*>(out + c * 8) = o.raw;
    }
  }
}

constexpr int kMaxWarpVecs = 8;  // rows up to 2048 wide take the warp kernel

template <typename T, int kVecs = 1>
void launch_layer_norm_warp(int vecs, const T* x, int64_t rows, int dim, const T* weight,
                            const T* bias, float eps, T* y, cudaStream_t stream) {
  if constexpr (kVecs < kMaxWarpVecs) {
    if (vecs > kVecs) {
      launch_layer_norm_warp<T, kVecs + 1>(vecs, x, rows, dim, weight, bias, eps, y, stream);
      return;
    }
  }
  constexpr int kWarps = kThreads / 32;
  const auto blocks = static_cast<unsigned>((rows + kWarps - 1) / kWarps);
  layer_norm_warp_kernel<T, kVecs>
      <<<blocks, kThreads, 0, stream>>>(x, rows, dim, weight, bias, eps, y);
}

bool aligned16(const void* p) {
  return reinterpret_cast<uintptr_t>(p) % 16 == 0;
}

}  // namespace

void layer_norm(DType dtype, const void* x, int64_t rows, int dim, const void* weight,
                const void* bias, float eps, void* y, cudaStream_t stream) {
  if (rows == 0) return;
  GLMASR_CHECK(rows <= INT32_MAX && dim > 0, "layer_norm: expected 0 < dim and rows < 2^31, got ",
               rows, " x ", dim);
  const int vecs = (dim / 8 + 31) / 32;
  if (dim % 8 == 0 && vecs <= kMaxWarpVecs && aligned16(x) && aligned16(y) && aligned16(weight) &&
      aligned16(bias)) {
    GLMASR_DISPATCH_ELEMENT(dtype, T, {
      launch_layer_norm_warp<T>(vecs, static_cast<const T*>(x), rows, dim,
                                static_cast<const T*>(weight), static_cast<const T*>(bias), eps,
                                static_cast<T*>(y), stream);
    });
    GLMASR_CUDA_CHECK_LAUNCH();
    return;
  }
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    layer_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        static_cast<const T*>(x), dim, static_cast<const T*>(weight), static_cast<const T*>(bias),
        eps, static_cast<T*>(y));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
