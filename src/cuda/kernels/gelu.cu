#include <algorithm>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/gelu.h"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void gelu_kernel(T* x, int64_t count, int64_t cols, const T* __restrict__ bias) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    float v = to_float(x[i]);
    if (bias) v = round_to<T>(v + to_float(bias[i % cols]));
    x[i] = from_float<T>(exact_gelu(v));
  }
}

}  // namespace

void gelu(DType dtype, void* x, int64_t rows, int64_t cols, const void* bias, cudaStream_t stream) {
  const int64_t count = rows * cols;
  if (count == 0) return;
  const int threads = 256;
  const int64_t blocks =
      std::min<int64_t>((count + threads - 1) / threads, int64_t{sm_count()} * 16);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    gelu_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, stream>>>(
        static_cast<T*>(x), count, cols, static_cast<const T*>(bias));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
