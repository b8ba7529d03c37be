#include "cuda/check.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/rms_norm.h"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void rms_norm_kernel(const T* x, int dim, const T* __restrict__ weight, float eps,
                                T* y) {
  __shared__ float scratch[32];
  // A dependent launch (below): the projection after it may start loading its weights now, and
  // x is read only once the kernel that wrote it is done.
  allow_next_kernel();
  wait_for_previous_kernel();
  const T* row = x + static_cast<int64_t>(blockIdx.x) * dim;
  float sum = 0.0f;
  for (int i = threadIdx.x; i < dim; i += blockDim.x) {
    const float v = to_float(row[i]);
    sum += v * v;
  }
  const float inv = rsqrtf(block_sum(sum, scratch) / static_cast<float>(dim) + eps);
  T* out = y + static_cast<int64_t>(blockIdx.x) * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    out[i] = from_float<T>(to_float(weight[i]) * round_to<T>(to_float(row[i]) * inv));
}

}  // namespace

void rms_norm(DType dtype, const void* x, int64_t rows, int dim, const void* weight, float eps,
              void* y, cudaStream_t stream) {
  if (rows == 0) return;
  GLMASR_CHECK(rows <= INT32_MAX && dim > 0, "rms_norm: expected 0 < dim and rows < 2^31, got ",
               rows, " x ", dim);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    launch_dependent(rms_norm_kernel<T>, {dim3(static_cast<unsigned>(rows)), kThreads, stream},
                     static_cast<const T*>(x), dim, static_cast<const T*>(weight), eps,
                     static_cast<T*>(y));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
