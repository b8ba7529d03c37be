#include <algorithm>
#include <cstdint>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/gelu.h"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void gelu_kernel(T* x, int64_t count, int64_t cols, const T* __restrict__ bias) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    float v = to_float(x[i]);
    if (bias) v = round_to<T>(v + to_float(bias[i % cols]));
    x[i] = from_float<T>(exact_gelu(v));
  }
}

// Eight elements per thread through 16-byte accesses (cols a multiple of 8, x aligned): the
// scalar kernel above moved 2 bytes per load and ran far below the copy rate on the encoder's
// [windows * 1500, 5120] activations.
template <typename T>
__global__ void gelu_vec8_kernel(T* x, int64_t vectors, int64_t cols, const T* __restrict__ bias) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < vectors;
       i += stride) {
    Vec8<T> v;
    v.raw = reinterpret_cast<const uint4*>(x)[i];
    Vec8<T> b{};
    if (bias) b = load8(bias + (i * 8) % cols);
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      float value = to_float(v.e[e]);
      if (bias) value = round_to<T>(value + to_float(b.e[e]));
      v.e[e] = from_float<T>(exact_gelu(value));
    }
    reinterpret_cast<uint4*>(x)[i] = v.raw;
  }
}

}  // namespace

void gelu(DType dtype, void* x, int64_t rows, int64_t cols, const void* bias, cudaStream_t stream) {
  const int64_t count = rows * cols;
  if (count == 0) return;
  const int threads = 256;
  const bool vectorized = cols % 8 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                          reinterpret_cast<uintptr_t>(bias) % 16 == 0;
  if (vectorized) {
    const int64_t vectors = count / 8;
    const int64_t blocks =
        std::min<int64_t>((vectors + threads - 1) / threads, int64_t{sm_count()} * 8);
    GLMASR_DISPATCH_ELEMENT(dtype, T, {
      gelu_vec8_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
          static_cast<T*>(x), vectors, cols, static_cast<const T*>(bias));
    });
    GLMASR_CUDA_CHECK_LAUNCH();
    return;
  }
  const int64_t blocks =
      std::min<int64_t>((count + threads - 1) / threads, int64_t{sm_count()} * 16);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    gelu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        static_cast<T*>(x), count, cols, static_cast<const T*>(bias));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
