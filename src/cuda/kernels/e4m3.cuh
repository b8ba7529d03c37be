// Widening OCP E4M3 (fp8) weight codes on the device: exact, since every E4M3 value is an fp16
// value, and a pair at a time (Hopper converts two codes in one instruction). Only .cu files
// include this.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

namespace glmasr::cuda {

// Codes 2h and 2h + 1 of the four in `word` (the lower byte is the earlier code and becomes .x).
__device__ __forceinline__ float2 e4m3_pair_to_float2(uint32_t word, int h) {
  const auto pair = static_cast<__nv_fp8x2_storage_t>(word >> (16 * h));
  return __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(pair, __NV_E4M3)));
}

// acc + the codes of `words` (four a word, the lower byte first) times x[0 .. 4 kWords), in input
// order, a pair at a time so that few widened values are live at once.
template <int kWords>
__device__ __forceinline__ float dot_e4m3(const uint32_t (&words)[kWords], const float* x,
                                          float acc) {
#pragma unroll
  for (int k = 0; k < kWords; ++k) {
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const float2 v = e4m3_pair_to_float2(words[k], h);
      acc = fmaf(v.x, x[4 * k + 2 * h], acc);
      acc = fmaf(v.y, x[4 * k + 2 * h + 1], acc);
    }
  }
  return acc;
}

__device__ __forceinline__ float e4m3_to_float(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

}  // namespace glmasr::cuda
