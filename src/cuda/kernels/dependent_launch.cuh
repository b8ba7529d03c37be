// Programmatic dependent launch (sm_90): a kernel launched with launch_dependent() may start
// while the previous kernel in the stream (or CUDA graph) is still finishing. It must call
// wait_for_previous_kernel() in every block before it reads anything the previous kernels wrote
// and before it writes anything; what it does before that (loading weights, which no kernel of a
// step writes) overlaps the previous kernel's tail and this kernel's own launch ramp.
// allow_next_kernel() lets the next dependent launch start as soon as every block of this kernel
// has called it; the next kernel's own wait still orders it after this one completes.
#pragma once

#include <cuda_runtime.h>

#include <utility>

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

// Where a launch runs: grid, block, stream, and the share of each SM's shared memory / L1 it
// asks for. Dependent launches overlap, and a block of the next kernel can only join an SM whose
// split suits it, so the split is chosen per launch (the shared_carveout of GemvParams and
// DecodeAttentionParams; the decoding step's values are StepCarveouts in decoder_runner.cpp).
struct DependentLaunch {
  dim3 grid;
  unsigned threads = 0;
  cudaStream_t stream = nullptr;
  int shared_carveout = -1;  // percent of the SM's shared memory (the rest is L1); -1: driver's
  size_t dynamic_shared_bytes = 0;
};

// The launch attributes of a dependent launch: programmatic serialization, and the carveout
// where one is asked for. Returns how many of attrs[2] are set.
inline unsigned dependent_launch_attributes(int shared_carveout, cudaLaunchAttribute (&attrs)[2]) {
  attrs[0] = {};
  attrs[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attrs[0].val.programmaticStreamSerializationAllowed = 1;
  if (shared_carveout < 0) return 1;
  attrs[1] = {};
  attrs[1].id = cudaLaunchAttributePreferredSharedMemoryCarveout;
  attrs[1].val.sharedMemCarveout = static_cast<unsigned>(shared_carveout);
  return 2;
}

// kernel<<<grid, threads, dynamic_shared_bytes, stream>>>(args...) with the
// programmatic-serialization attribute. The kernel must follow the rules above: without the wait it
// would race the previous kernel.
template <typename... KernelArgs, typename... Args>
void launch_dependent(void (*kernel)(KernelArgs...), const DependentLaunch& launch,
                      Args&&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = launch.grid;
  config.blockDim = dim3(launch.threads);
  config.dynamicSmemBytes = launch.dynamic_shared_bytes;
  config.stream = launch.stream;
  cudaLaunchAttribute attributes[2];
  config.attrs = attributes;
  config.numAttrs = dependent_launch_attributes(launch.shared_carveout, attributes);
  GLMASR_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

}  // namespace glmasr::cuda
