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

__device__ __forceinline__ float e4m3_to_float(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

}  // namespace glmasr::cuda
