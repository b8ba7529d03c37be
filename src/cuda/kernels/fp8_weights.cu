#include <cuda_fp8.h>

#include <algorithm>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/e4m3.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/fp8_weights.h"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 256;

int64_t grid_for(int64_t count) {
  return std::max<int64_t>(
      1, std::min<int64_t>((count + kThreads - 1) / kThreads, int64_t{sm_count()} * 32));
}

// Any width: one code per thread and iteration.
template <typename T>
__global__ void dequantize_kernel(const uint8_t* codes, const float* scales, int64_t rows,
                                  int64_t cols, T* out) {
  const int64_t count = rows * cols;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride)
    out[i] = from_float<T>(e4m3_to_float(codes[i]) * scales[i / cols]);
}

// Widths that are a multiple of kChunkCodes (every real projection): one 16-byte load of codes
// and two 16-byte stores per thread and iteration. The GEMM path dequantizes each of a step's
// matrices every step, and one byte per thread with a 64-bit division per code ran at a
// fraction of the copy rate (fp8 steps of 128 sequences 2.5x slower than bf16 ones).
constexpr int kChunkCodes = 16;

template <typename T>
__global__ void dequantize_chunks_kernel(const uint4* codes, const float* scales,
                                         uint32_t chunks_per_row, uint32_t chunks, uint4* out) {
  // 32-bit indices: the division by the row's chunks is per chunk.
  const uint32_t stride = gridDim.x * blockDim.x;
  for (uint32_t i = blockIdx.x * blockDim.x + threadIdx.x; i < chunks; i += stride) {
    const uint4 raw = __ldcs(codes + i);  // read once: keep L2 for the dequantized copy
    const float scale = __ldg(scales + i / chunks_per_row);
    const uint32_t words[4] = {raw.x, raw.y, raw.z, raw.w};
    Vec8<T> wide[2];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
#pragma unroll
      for (int h = 0; h < 2; ++h) {
        const float2 v = e4m3_pair_to_float2(words[k], h);
        const int e = 4 * k + 2 * h;
        wide[e / 8].e[e % 8] = from_float<T>(v.x * scale);
        wide[e / 8].e[e % 8 + 1] = from_float<T>(v.y * scale);
      }
    }
    out[2 * i] = wide[0].raw;
    out[2 * i + 1] = wide[1].raw;
  }
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

// One block per row (grid-stride): the row's amax, its scale, its codes, exactly as the host's
// quantize_row (model/fp8_quantize.cpp): IEEE divisions (__fdiv_rn whatever the flags) and the
// conversion's round-to-nearest-even with saturation at +-448. A non-finite weight lowers
// *first_nonfinite to its flat index; its row's codes are then meaningless.
constexpr int kQuantizeThreads = 256;

template <typename T>
__global__ void quantize_kernel(const T* w, int64_t rows, int64_t cols, uint8_t* codes,
                                float* scales, unsigned long long* first_nonfinite) {
  __shared__ float warp_amax[kQuantizeThreads / 32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* row = w + r * cols;
    float amax = 0.0f;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
      const float v = to_float(row[c]);
      if (!isfinite(v)) atomicMin(first_nonfinite, static_cast<unsigned long long>(r * cols + c));
      amax = fmaxf(amax, fabsf(v));
    }
    for (int offset = 16; offset > 0; offset /= 2)
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    if (threadIdx.x % 32 == 0) warp_amax[threadIdx.x / 32] = amax;
    __syncthreads();
    amax = warp_amax[0];
    for (int k = 1; k < kQuantizeThreads / 32; ++k) amax = fmaxf(amax, warp_amax[k]);
    __syncthreads();  // warp_amax is rewritten by the next row
    const float scale = amax > 0.0f ? __fdiv_rn(amax, 448.0f) : 1.0f;
    if (threadIdx.x == 0) scales[r] = scale;
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x)
      codes[r * cols + c] =
          __nv_cvt_float_to_fp8(__fdiv_rn(to_float(row[c]), scale), __NV_SATFINITE, __NV_E4M3);
  }
}

}  // namespace

void quantize_fp8_rows_on_device(DType source_dtype, const void* w, int64_t rows, int64_t cols,
                                 void* codes, float* scales, unsigned long long* first_nonfinite,
                                 cudaStream_t stream) {
  GLMASR_CHECK(rows >= 0 && cols > 0,
               "quantize_fp8_rows_on_device: expected a [rows, cols] matrix, got [", rows, ", ",
               cols, "]");
  if (rows == 0) return;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>(rows, int64_t{sm_count()} * 16));
  GLMASR_DISPATCH_ELEMENT(source_dtype, T, {
    quantize_kernel<T><<<blocks, kQuantizeThreads, 0, stream>>>(static_cast<const T*>(w), rows,
                                                                cols, static_cast<uint8_t*>(codes),
                                                                scales, first_nonfinite);
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

void dequantize_fp8_rows(DType dtype, const void* codes, const float* scales, int64_t rows,
                         int64_t cols, void* out, cudaStream_t stream) {
  GLMASR_CHECK(rows >= 0 && cols > 0, "dequantize_fp8_rows: expected a [rows, cols] matrix, got [",
               rows, ", ", cols, "]");
  if (rows == 0) return;
  const bool aligned =
      reinterpret_cast<uintptr_t>(codes) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 16 == 0;
  if (cols % kChunkCodes == 0 && aligned && rows * cols / kChunkCodes <= INT32_MAX) {
    const int64_t chunks = rows * cols / kChunkCodes;
    const auto blocks = static_cast<unsigned>(grid_for(chunks));
    GLMASR_DISPATCH_ELEMENT(dtype, T, {
      dequantize_chunks_kernel<T><<<blocks, kThreads, 0, stream>>>(
          static_cast<const uint4*>(codes), scales, static_cast<uint32_t>(cols / kChunkCodes),
          static_cast<uint32_t>(chunks), static_cast<uint4*>(out));
    });
  } else {
    const auto blocks = static_cast<unsigned>(grid_for(rows * cols));
    GLMASR_DISPATCH_ELEMENT(dtype, T, {
      dequantize_kernel<T><<<blocks, kThreads, 0, stream>>>(
          static_cast<const uint8_t*>(codes), scales, rows, cols, static_cast<T*>(out));
    });
  }
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
