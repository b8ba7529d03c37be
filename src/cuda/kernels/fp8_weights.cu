#include <cuda_fp8.h>

#include <algorithm>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/fp8_weights.h"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 256;

int64_t grid_for(int64_t count) {
  return std::max<int64_t>(
      1, std::min<int64_t>((count + kThreads - 1) / kThreads, int64_t{sm_count()} * 32));
}

__device__ __forceinline__ float e4m3_to_float(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

template <typename T>
__global__ void dequantize_kernel(const uint8_t* codes, const float* scales, int64_t rows,
                                  int64_t cols, T* out) {
  const int64_t count = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride)
    out[i] = from_float<T>(e4m3_to_float(codes[i]) * scales[i / cols]);
}

__device__ __forceinline__ uint64_t mix(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

__global__ void random_fp8_kernel(uint8_t* codes, float* scales, int64_t rows, int64_t cols,
                                  float scale, uint64_t seed) {
  const int64_t count = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const uint64_t bits = mix(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(bits >> 40) * (2.0f / 16777216.0f) - 1.0f;
    codes[i] = __nv_cvt_float_to_fp8(448.0f * u, __NV_SATFINITE, __NV_E4M3);
    if (i < rows) scales[i] = scale;
  }
}

}  // namespace

void dequantize_fp8_rows(DType dtype, const void* codes, const float* scales, int64_t rows,
                         int64_t cols, void* out, cudaStream_t stream) {
  GLMASR_CHECK(rows >= 0 && cols > 0, "dequantize_fp8_rows: expected a [rows, cols] matrix, got [",
               rows, ", ", cols, "]");
  if (rows == 0) return;
  const auto blocks = static_cast<unsigned>(grid_for(rows * cols));
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    dequantize_kernel<T><<<blocks, kThreads, 0, stream>>>(static_cast<const uint8_t*>(codes),
                                                          scales, rows, cols, static_cast<T*>(out));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

void random_fill_fp8(void* codes, float* scales, int64_t rows, int64_t cols, float bound,
                     uint64_t seed, cudaStream_t stream) {
  if (rows == 0 || cols == 0) return;
  const auto blocks = static_cast<unsigned>(grid_for(std::max(rows * cols, rows)));
  random_fp8_kernel<<<blocks, kThreads, 0, stream>>>(static_cast<uint8_t*>(codes), scales, rows,
                                                     cols, bound / 448.0f, seed);
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
