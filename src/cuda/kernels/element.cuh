// Device-side helpers shared by the kernels: the two 16-bit element types the engine computes
// in (bf16 and fp16), float conversions, 16-byte vector views and warp reductions.
// Only .cu files include this; host code names the element type with glmasr::DType.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"

namespace glmasr::cuda {

__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}
__device__ __forceinline__ float to_float(__half v) {
  return __half2float(v);
}

template <typename T>
__device__ __forceinline__ T from_float(float v);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float v) {
  return __float2half_rn(v);
}

// Rounds a float to the element type and back: what PyTorch does between two bf16 ops.
template <typename T>
__device__ __forceinline__ float round_to(float v) {
  return to_float(from_float<T>(v));
}

// Eight 16-bit elements in one 16-byte register group.
template <typename T>
union Vec8 {
  uint4 raw;
  T e[8];
};

template <typename T>
__device__ __forceinline__ Vec8<T> load8(const T* p) {
  Vec8<T> v;
  v.raw = __ldg(reinterpret_cast<const uint4*>(p));
  return v;
}

// The eight elements of a 16-byte vector as floats.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& raw, float (&out)[8]) {
  Vec8<T> v;
  v.raw = raw;
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = to_float(v.e[i]);
}

// Weights are streamed once per step: keep them out of L1 so activations stay there.
template <typename T>
__device__ __forceinline__ Vec8<T> load8_stream(const T* p) {
  Vec8<T> v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.raw.x), "=r"(v.raw.y), "=r"(v.raw.z), "=r"(v.raw.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). `scratch` holds 32
// floats; the result is returned to every thread.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  const int warps = blockDim.x >> 5;
  v = lane < warps ? scratch[lane] : 0.0f;
  return warp_sum(v);
}

__device__ __forceinline__ float exact_gelu(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}

// Calls f.template operator()<T>() with T the CUDA element type for `dtype`.
#define GLMASR_DISPATCH_ELEMENT(dtype, T, ...)                                \
  do {                                                                        \
    if ((dtype) == ::glmasr::DType::kBF16) {                                  \
      using T = __nv_bfloat16;                                                \
      __VA_ARGS__;                                                            \
    } else if ((dtype) == ::glmasr::DType::kF16) {                            \
      using T = __half;                                                       \
      __VA_ARGS__;                                                            \
    } else {                                                                  \
      ::glmasr::fail("cuda kernels: expected element type BF16 or F16, got ", \
                     ::glmasr::dtype_name(dtype));                            \
    }                                                                         \
  } while (0)

}  // namespace glmasr::cuda
