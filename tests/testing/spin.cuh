// Device-side delays for the ordering tests: a producer kernel that holds back before it writes
// shows whether a dependent kernel after it reads too early.
#pragma once

#include <cstdint>

namespace glmasr::gpu_test {

__device__ inline uint64_t global_nanoseconds() {
  uint64_t t;
  asm volatile("mov.u64 %0, %globaltimer;" : "=l"(t));
  return t;
}

// Busy-waits for `ns` nanoseconds of the GPU's global timer.
__device__ inline void spin_for(uint64_t ns) {
  const uint64_t start = global_nanoseconds();
  while (global_nanoseconds() - start < ns) {
  }
}

}  // namespace glmasr::gpu_test
