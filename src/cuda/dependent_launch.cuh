// Programmatic dependent launch (sm_90): a kernel launched with launch_dependent() may start
// while the previous kernel in the stream (or CUDA graph) is still finishing. It must call
// wait_for_previous_kernel() in every block before it reads anything the previous kernels wrote
// and before it writes anything; what it does before that (loading weights, which no kernel of a
// step writes) overlaps the previous kernel's tail and this kernel's own launch ramp.
// allow_next_kernel() lets the next dependent launch start as soon as every block of this kernel
// has called it; the next kernel's own wait still orders it after this one completes.
#pragma once

#include <cuda_runtime.h>

#include "cuda/check.h"

namespace glmasr::cuda {

__device__ __forceinline__ void wait_for_previous_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void allow_next_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// kernel<<<grid, threads, 0, stream>>>(args...) with the programmatic-serialization attribute.
// The kernel must follow the rules above: without the wait it would race the previous kernel.
template <typename... KernelArgs, typename... Args>
void launch_dependent(void (*kernel)(KernelArgs...), dim3 grid, unsigned threads,
                      cudaStream_t stream, Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = dim3(threads);
  config.dynamicSmemBytes = 0;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  config.attrs = &attribute;
  config.numAttrs = 1;
  GLMASR_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace glmasr::cuda
