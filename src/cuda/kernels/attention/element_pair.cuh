// Two adjacent 16-bit elements (bf16 or fp16) as one 32-bit value: the attention kernels read,
// write and feed the tensor cores in pairs. The bf16 functions are the intrinsics the kernels
// called before they were templated, so bf16 results stay bit for bit the same.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace glmasr::cuda::attention_internal {

template <typename T>
struct PairOf;
template <>
struct PairOf<__nv_bfloat16> {
  using type = __nv_bfloat162;
};
template <>
struct PairOf<__half> {
  using type = __half2;
};
template <typename T>
using Pair = typename PairOf<T>::type;

__device__ __forceinline__ float2 pair_to_float2(__nv_bfloat162 v) {
  return __bfloat1622float2(v);
}
__device__ __forceinline__ float2 pair_to_float2(__half2 v) {
  return __half22float2(v);
}

// Rounds both values to nearest even; lo goes to the lower address (the lower 16 bits).
template <typename T>
__device__ __forceinline__ Pair<T> pair_from_floats(float lo, float hi);
template <>
__device__ __forceinline__ __nv_bfloat162 pair_from_floats<__nv_bfloat16>(float lo, float hi) {
  return __floats2bfloat162_rn(lo, hi);
}
template <>
__device__ __forceinline__ __half2 pair_from_floats<__half>(float lo, float hi) {
  return __floats2half2_rn(lo, hi);
}

// The pair as the 32-bit register an mma.sync fragment holds.
template <typename T>
__device__ __forceinline__ uint32_t pack_pair(float lo, float hi) {
  const Pair<T> pair = pair_from_floats<T>(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&pair);
}

}  // namespace glmasr::cuda::attention_internal
