// Hopper's asynchronous copies into shared memory and the mbarriers that count their bytes:
// the pieces the persistent decoding step (1-D bulk copies of weight rows) and the wgmma flash
// attention (tiles through tensor maps) share. Only .cu files include this; the PTX needs
// compute capability 9.0, and each wrapper compiles to nothing for older targets.
#pragma once

#include <cuda.h>  // CUtensorMap (a plain 128-byte struct; no driver call is made here)

#include <cstdint>

#include "cuda/kernels/tensor_core.cuh"  // smem_address

namespace glmasr::cuda {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define GLMASR_ASYNC_COPY_PTX 1
#endif

__device__ __forceinline__ void mbarrier_init(uint64_t* bar, uint32_t count) {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(smem_address(bar)), "r"(count)
               : "memory");
#endif
}

// Makes the barriers' initialisation visible to the copy engine (the async proxy) and to the
// other threads; a __syncthreads() must follow.
__device__ __forceinline__ void mbarrier_init_fence() {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#endif
}

// One arrival that also announces `bytes` of copies that will complete on this barrier.
__device__ __forceinline__ void mbarrier_expect_bytes(uint64_t* bar, uint32_t bytes) {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_address(bar)),
               "r"(bytes)
               : "memory");
#endif
}

__device__ __forceinline__ void mbarrier_arrive(uint64_t* bar) {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];" ::"r"(smem_address(bar)) : "memory");
#endif
}

// Waits until the barrier's phase of this parity has completed.
__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, uint32_t parity) {
#ifdef GLMASR_ASYNC_COPY_PTX
  uint32_t done = 0;
  while (!done) {
    asm volatile(
        "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n"
        " selp.u32 %0, 1, 0, p;\n}"
        : "=r"(done)
        : "r"(smem_address(bar)), "r"(parity)
        : "memory");
  }
#endif
}

// An L2 policy for data read once: evicted first, so that what is reused stays.
__device__ __forceinline__ uint64_t evict_first_policy() {
  uint64_t policy = 0;
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile("createpolicy.fractional.L2::evict_first.b64 %0, 1.0;" : "=l"(policy));
#endif
  return policy;
}

// `bytes` (a multiple of 16, both addresses 16-byte aligned) from global to shared memory;
// completes on `bar`.
__device__ __forceinline__ void bulk_copy(void* dst, const void* src, uint32_t bytes, uint64_t* bar,
                                          uint64_t policy) {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile(
      "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.L2::cache_hint"
      " [%0], [%1], %2, [%3], %4;" ::"r"(smem_address(dst)),
      "l"(src), "r"(bytes), "r"(smem_address(bar)), "l"(policy)
      : "memory");
#endif
}

// One box of a 4-D tensor map at coordinates (c0 innermost .. c3) into shared memory, laid out
// (and swizzled) as the map says; elements outside the tensor arrive as zeros but count as
// bytes all the same. `map` must live in kernel-parameter, constant or global memory.
__device__ __forceinline__ void tensor_copy_4d(void* dst, const CUtensorMap* map, int c0, int c1,
                                               int c2, int c3, uint64_t* bar) {
#ifdef GLMASR_ASYNC_COPY_PTX
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes"
      " [%0], [%1, {%2, %3, %4, %5}], [%6];" ::"r"(smem_address(dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(c0), "r"(c1), "r"(c2), "r"(c3),
      "r"(smem_address(bar))
      : "memory");
#endif
}

}  // namespace glmasr::cuda
