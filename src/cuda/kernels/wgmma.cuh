// Hopper's warpgroup matrix multiply (wgmma.mma_async, sm_90a): the shared-memory matrix
// descriptors and the two shapes the wgmma flash attention uses. A warpgroup (4 consecutive
// warps, 128 threads) issues each product together; products run asynchronously until
// wgmma_wait. Only .cu files include this; outside sm_90a every wrapper compiles to nothing.
//
// Operand tiles are rows of exactly 128 bytes (64 16-bit elements) in the 128-byte swizzle
// that the tensor-map copies write (CU_TENSOR_MAP_SWIZZLE_128B): the 16-byte chunk c of row r
// sits at chunk c ^ (r % 8), in atoms of 8 rows = 1024 bytes, 1024-byte aligned.
//
// Fragments in registers follow the mma.sync m16n8 layouts per warp: warp w of the group owns
// rows 16w..16w+15; for n8 tile j a thread holds d[4j + 0..1] at row lane/4, columns
// 8j + 2(lane%4) + 0..1, and d[4j + 2..3] eight rows below. An A fragment (4 registers of two
// elements) is the m16n8k16 A fragment of the warp's 16 rows.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "cuda/kernels/tensor_core.cuh"  // smem_address

namespace glmasr::cuda {

#if defined(__CUDA_ARCH__) && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define GLMASR_WGMMA_PTX 1
#endif

// Bytes of one operand row and of one swizzle atom (8 rows).
constexpr int kWgmmaRowBytes = 128;
constexpr int kWgmmaAtomBytes = 8 * kWgmmaRowBytes;

// The descriptor of a 128-byte-swizzled tile at `smem`. K-major operands (rows along M or N,
// the reduction dimension contiguous: Q and K in attention): 8-row atoms follow each other
// every kWgmmaAtomBytes (the stride byte offset), and a k step of 16 elements moves the start by
// 32 bytes. MN-major operands (the reduction dimension along the rows: V, read transposed): the
// same stride separates groups of 8 rows along k; with 64 columns there is one atom along N, so
// the leading byte offset is unused. Fields are in 16-byte units.
__device__ __forceinline__ uint64_t wgmma_descriptor(const void* smem) {
  const uint64_t start = (smem_address(smem) & 0x3FFFF) >> 4;
  const uint64_t leading = 1;                    // unused for these layouts
  const uint64_t stride = kWgmmaAtomBytes >> 4;  // next 8-row atom
  const uint64_t swizzle_128b = 1;               // layout type 1: 128-byte swizzle
  return start | (leading << 16) | (stride << 32) | (swizzle_128b << 62);
}

// Orders this thread's earlier register writes (accumulators, A fragments) before the
// warpgroup's next products read them.
__device__ __forceinline__ void wgmma_fence() {
#ifdef GLMASR_WGMMA_PTX
  asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void wgmma_commit() {
#ifdef GLMASR_WGMMA_PTX
  asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
#endif
}
// Waits until at most kPending committed groups of products are in flight.
template <int kPending>
__device__ __forceinline__ void wgmma_wait() {
#ifdef GLMASR_WGMMA_PTX
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(kPending) : "memory");
#endif
}
// Named barrier `id` (1..15; 0 is __syncthreads) over `threads` threads: sync waits for all of
// them, arrive counts this thread and goes on.
__device__ __forceinline__ void named_barrier_sync(int id, int threads) {
  asm volatile("bar.sync %0, %1;" ::"r"(id), "r"(threads) : "memory");
}
__device__ __forceinline__ void named_barrier_arrive(int id, int threads) {
  asm volatile("bar.arrive %0, %1;" ::"r"(id), "r"(threads) : "memory");
}

// Moves registers between the warpgroups of a block (all threads of a warpgroup execute it): a
// producer that only issues copies keeps few, the warpgroups that multiply get the rest.
template <int kRegisters>
__device__ __forceinline__ void warpgroup_registers_decrease() {
#ifdef GLMASR_WGMMA_PTX
  asm volatile("setmaxnreg.dec.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
#endif
}
template <int kRegisters>
__device__ __forceinline__ void warpgroup_registers_increase() {
#ifdef GLMASR_WGMMA_PTX
  asm volatile("setmaxnreg.inc.sync.aligned.u32 %0;\n" ::"n"(kRegisters));
#endif
}

// Keeps the compiler from moving reads of registers that products write (or writes of registers
// they read) across the asynchronous window.
template <int kCount, typename R>
__device__ __forceinline__ void wgmma_hold(R (&regs)[kCount]) {
#pragma unroll
  for (int i = 0; i < kCount; ++i) {
    if constexpr (std::is_same_v<R, float>)
      asm volatile("" : "+f"(regs[i])::"memory");
    else
      asm volatile("" : "+r"(regs[i])::"memory");
  }
}

// OUT is the accumulators' constraint: "+f" to add to them, "=f" to overwrite them (then they
// are not live before the product).
#define GLMASR_WGMMA_64X128X16_SS(TYPE, OUT)                                                       \
  asm volatile(                                                                                    \
      "{\n .reg .pred p;\n setp.ne.b32 p, %66, 0;\n"                                               \
      " wgmma.mma_async.sync.aligned.m64n128k16.f32." TYPE "." TYPE                                \
      " {"                                                                                         \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
      "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33, %34, %35, %36, %37, " \
      "%38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, %54, %55, " \
      "%56, %57, %58, %59, %60, %61, %62, %63"                                                     \
      "}, %64, %65, p, 1, 1, 0, 0;\n}\n"                                                           \
      : OUT(d[0]), OUT(d[1]), OUT(d[2]), OUT(d[3]), OUT(d[4]), OUT(d[5]), OUT(d[6]), OUT(d[7]),    \
        OUT(d[8]), OUT(d[9]), OUT(d[10]), OUT(d[11]), OUT(d[12]), OUT(d[13]), OUT(d[14]),          \
        OUT(d[15]), OUT(d[16]), OUT(d[17]), OUT(d[18]), OUT(d[19]), OUT(d[20]), OUT(d[21]),        \
        OUT(d[22]), OUT(d[23]), OUT(d[24]), OUT(d[25]), OUT(d[26]), OUT(d[27]), OUT(d[28]),        \
        OUT(d[29]), OUT(d[30]), OUT(d[31]), OUT(d[32]), OUT(d[33]), OUT(d[34]), OUT(d[35]),        \
        OUT(d[36]), OUT(d[37]), OUT(d[38]), OUT(d[39]), OUT(d[40]), OUT(d[41]), OUT(d[42]),        \
        OUT(d[43]), OUT(d[44]), OUT(d[45]), OUT(d[46]), OUT(d[47]), OUT(d[48]), OUT(d[49]),        \
        OUT(d[50]), OUT(d[51]), OUT(d[52]), OUT(d[53]), OUT(d[54]), OUT(d[55]), OUT(d[56]),        \
        OUT(d[57]), OUT(d[58]), OUT(d[59]), OUT(d[60]), OUT(d[61]), OUT(d[62]), OUT(d[63])         \
      : "l"(a_desc), "l"(b_desc), "r"(accumulate))

#define GLMASR_WGMMA_64X64X16_RS_TRANS_B(TYPE)                                                     \
  asm volatile(                                                                                    \
      "{\n .reg .pred p;\n setp.ne.b32 p, %37, 0;\n"                                               \
      " wgmma.mma_async.sync.aligned.m64n64k16.f32." TYPE "." TYPE                                 \
      " {"                                                                                         \
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17, %18, %19, " \
      "%20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31"                                 \
      "}, {%32, %33, %34, %35}, %36, p, 1, 1, 1;\n}\n"                                             \
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),        \
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),    \
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]), \
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]), \
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31])                                         \
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "l"(b_desc), "r"(1))

// d (+)= A Bᵀ for a 64 x 128 x 16 piece: A 64 rows x 16 of T and B 128 rows x 16 of T, both
// K-major in shared memory. kAccumulate false overwrites d.
template <typename T, bool kAccumulate>
__device__ __forceinline__ void wgmma_64x128x16(float (&d)[64], uint64_t a_desc, uint64_t b_desc) {
#ifdef GLMASR_WGMMA_PTX
  constexpr int accumulate = kAccumulate;
  if constexpr (std::is_same_v<T, __half> && kAccumulate)
    GLMASR_WGMMA_64X128X16_SS("f16", "+f");
  else if constexpr (std::is_same_v<T, __half>)
    GLMASR_WGMMA_64X128X16_SS("f16", "=f");
  else if constexpr (kAccumulate)
    GLMASR_WGMMA_64X128X16_SS("bf16", "+f");
  else
    GLMASR_WGMMA_64X128X16_SS("bf16", "=f");
#endif
}

// d (+)= A B for a 64 x 64 x 16 piece: A from registers (the fragment above), B 16 rows x 64
// columns of T in shared memory with the columns contiguous (MN-major, read transposed).
// Always accumulates (start from zeros).
template <typename T>
__device__ __forceinline__ void wgmma_64x64x16_a_registers(float (&d)[32], const uint32_t (&a)[4],
                                                           uint64_t b_desc) {
#ifdef GLMASR_WGMMA_PTX
  if constexpr (std::is_same_v<T, __half>)
    GLMASR_WGMMA_64X64X16_RS_TRANS_B("f16");
  else
    GLMASR_WGMMA_64X64X16_RS_TRANS_B("bf16");
#endif
}

#undef GLMASR_WGMMA_64X128X16_SS
#undef GLMASR_WGMMA_64X64X16_RS_TRANS_B

}  // namespace glmasr::cuda
