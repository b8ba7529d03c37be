// The warpgroup-MMA wrappers (cuda/kernels/wgmma.cuh) on their own, against a host product:
// S = A Bᵀ (both K-major, 4 k steps) and O = round(S) V with S's fragments as the register A
// operand and V read transposed (8 k steps), over tiles written in the 128-byte swizzle by
// hand. If the flash-attention parity tests fail but these pass, the fault is in the tensor
// maps or the pipeline, not in the descriptors or the fragment layouts.
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/attention/element_pair.cuh"
#include "cuda/kernels/wgmma.cuh"
#include "testing/gpu.h"

namespace glmasr::cuda {
namespace {

using attention_internal::pack_pair;

constexpr int kM = 64, kK = 64, kN = 128;  // S = A Bᵀ: [64, 64] x [128, 64]ᵀ; V: [128, 64]

// Byte offset of element (r, c) of a tile of 64-element rows in the 128-byte swizzle.
__device__ int swizzled(int r, int c) {
  return r * kWgmmaRowBytes + (((c / 8) ^ (r % 8)) * 16) + (c % 8) * 2;
}

__global__ void wgmma_probe(const __nv_bfloat16* a, const __nv_bfloat16* b, const __nv_bfloat16* v,
                            float* s_out, float* o_out) {
  extern __shared__ __align__(16) std::byte raw[];
  const uint32_t misalign = smem_address(raw) % kWgmmaAtomBytes;
  std::byte* smem = raw + (misalign ? kWgmmaAtomBytes - misalign : 0);
  std::byte* a_tile = smem;
  std::byte* b_tile = a_tile + kM * kWgmmaRowBytes;
  std::byte* v_tile = b_tile + kN * kWgmmaRowBytes;
  for (int i = threadIdx.x; i < kM * kK; i += blockDim.x)
    *reinterpret_cast<__nv_bfloat16*>(a_tile + swizzled(i / kK, i % kK)) = a[i];
  for (int i = threadIdx.x; i < kN * kK; i += blockDim.x) {
    *reinterpret_cast<__nv_bfloat16*>(b_tile + swizzled(i / kK, i % kK)) = b[i];
    *reinterpret_cast<__nv_bfloat16*>(v_tile + swizzled(i / kK, i % kK)) = v[i];
  }
  // Generic-proxy stores, read by the tensor cores through the async proxy.
  asm volatile("fence.proxy.async.shared::cta;" ::: "memory");
  __syncthreads();

  float s[64];
  wgmma_fence();
  wgmma_64x128x16<__nv_bfloat16, false>(s, wgmma_descriptor(a_tile), wgmma_descriptor(b_tile));
  for (int k = 1; k < kK / 16; ++k)
    wgmma_64x128x16<__nv_bfloat16, true>(s, wgmma_descriptor(a_tile + 32 * k),
                                         wgmma_descriptor(b_tile + 32 * k));
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_hold(s);

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = 0; i < 64; ++i) {
    const int row = warp * 16 + lane / 4 + 8 * ((i >> 1) & 1);
    const int col = (i / 4) * 8 + 2 * (lane % 4) + (i & 1);
    s_out[row * kN + col] = s[i];
  }

  float o[32];
  for (float& x : o) x = 0.0f;
  uint32_t p[8][4];
  for (int k = 0; k < 8; ++k)
    for (int r = 0; r < 4; ++r)
      p[k][r] = pack_pair<__nv_bfloat16>(s[8 * k + 2 * r], s[8 * k + 2 * r + 1]);
  wgmma_fence();
  for (int k = 0; k < kN / 16; ++k)
    wgmma_64x64x16_a_registers<__nv_bfloat16>(o, p[k],
                                              wgmma_descriptor(v_tile + k * 16 * kWgmmaRowBytes));
  wgmma_commit();
  wgmma_wait<0>();
  wgmma_hold(o);
  for (int i = 0; i < 32; ++i) {
    const int row = warp * 16 + lane / 4 + 8 * ((i >> 1) & 1);
    const int col = (i / 4) * 8 + 2 * (lane % 4) + (i & 1);
    o_out[row * kK + col] = o[i];
  }
}

TEST(Wgmma, SharedAndRegisterOperandsMatchHostProduct) {
  GLMASR_SKIP_WITHOUT_GPU();
  if (compute_capability() != 90) GTEST_SKIP() << "wgmma is sm_90 only: test skipped";
  const auto a = gpu_test::random_values(kM * kK, DType::kBF16, 1);
  const auto b = gpu_test::random_values(kN * kK, DType::kBF16, 2);
  const auto v = gpu_test::random_values(kN * kK, DType::kBF16, 3);
  DeviceBuffer a_dev = gpu_test::upload(a, DType::kBF16), b_dev = gpu_test::upload(b, DType::kBF16),
               v_dev = gpu_test::upload(v, DType::kBF16);
  DeviceBuffer s_dev(kM * kN * sizeof(float)), o_dev(kM * kK * sizeof(float));
  const int smem = (kM + 2 * kN) * kWgmmaRowBytes + kWgmmaAtomBytes;
  GLMASR_CUDA_CHECK(
      cudaFuncSetAttribute(wgmma_probe, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  wgmma_probe<<<1, 128, smem>>>(a_dev.as<__nv_bfloat16>(), b_dev.as<__nv_bfloat16>(),
                                v_dev.as<__nv_bfloat16>(), s_dev.as<float>(), o_dev.as<float>());
  GLMASR_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> s(kM * kN), o(kM * kK);
  GLMASR_CUDA_CHECK(cudaMemcpy(s.data(), s_dev.get(), s_dev.bytes(), cudaMemcpyDeviceToHost));
  GLMASR_CUDA_CHECK(cudaMemcpy(o.data(), o_dev.get(), o_dev.bytes(), cudaMemcpyDeviceToHost));

  std::vector<float> s_ref(kM * kN), o_ref(kM * kK, 0.0f);
  for (int i = 0; i < kM; ++i)
    for (int j = 0; j < kN; ++j) {
      double sum = 0;
      for (int k = 0; k < kK; ++k) sum += double(a[i * kK + k]) * b[j * kK + k];
      s_ref[i * kN + j] = static_cast<float>(sum);
    }
  // P is S rounded to bf16 as the kernel rounds it; from the kernel's own S, so that the two
  // checks fail independently.
  for (int i = 0; i < kM; ++i)
    for (int d = 0; d < kK; ++d) {
      double sum = 0;
      for (int j = 0; j < kN; ++j) sum += double(round_to_bf16(s[i * kN + j])) * v[j * kK + d];
      o_ref[i * kK + d] = static_cast<float>(sum);
    }
  EXPECT_LE(gpu_test::relative_error(s, s_ref), 1e-5) << "S = A Bᵀ (both from shared memory)";
  EXPECT_LE(gpu_test::relative_error(o, o_ref), 1e-5) << "O = P V (P in registers, V transposed)";
}

}  // namespace
}  // namespace glmasr::cuda
