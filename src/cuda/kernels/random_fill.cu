#include <algorithm>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/random_fill.h"

namespace glmasr::cuda {
namespace {

__device__ __forceinline__ uint64_t mix(uint64_t z) {  // splitmix64 finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

template <typename T>
__global__ void random_fill_kernel(T* x, int64_t count, float center, float scale, uint64_t seed) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const uint64_t bits = mix(seed * 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(i));
    const float u = static_cast<float>(bits >> 40) * (2.0f / 16777216.0f) - 1.0f;
    x[i] = from_float<T>(center + scale * u);
  }
}

}  // namespace

void random_fill(DType dtype, void* x, int64_t count, float center, float scale, uint64_t seed,
                 cudaStream_t stream) {
  if (count == 0) return;
  const int threads = 256;
  const int64_t blocks =
      std::min<int64_t>((count + threads - 1) / threads, int64_t{sm_count()} * 32);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    random_fill_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        static_cast<T*>(x), count, center, scale, seed);
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
