#include <algorithm>

#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/swiglu.h"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void swiglu_kernel(const T* __restrict__ gate_up, int64_t count, int64_t width,
                              T* __restrict__ out) {
  // A dependent launch, as rms_norm's: the down projection may start loading its weights.
  allow_next_kernel();
  wait_for_previous_kernel();
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const int64_t row = i / width, col = i % width;
    const float g = to_float(gate_up[row * 2 * width + col]);
    const float u = to_float(gate_up[row * 2 * width + width + col]);
    out[i] = from_float<T>(round_to<T>(g / (1.0f + expf(-g))) * u);
  }
}

}  // namespace

void swiglu(DType dtype, const void* gate_up, int64_t rows, int64_t width, void* out,
            cudaStream_t stream) {
  const int64_t count = rows * width;
  if (count == 0) return;
  constexpr int threads = 256;
  const int64_t blocks =
      std::min<int64_t>((count + threads - 1) / threads, int64_t{sm_count()} * 16);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    launch_dependent(swiglu_kernel<T>, {dim3(static_cast<unsigned>(blocks)), threads, stream},
                     static_cast<const T*>(gate_up), count, width, static_cast<T*>(out));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
