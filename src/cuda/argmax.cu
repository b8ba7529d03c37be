#include <cfloat>

#include "cuda/argmax.h"
#include "cuda/check.h"
#include "cuda/dependent_launch.cuh"
#include "cuda/element.cuh"

namespace glmasr::cuda {
namespace {

constexpr int kThreads = 1024;

__device__ __forceinline__ void better(float& value, int& index, float other_value,
                                       int other_index) {
  if (other_value > value || (other_value == value && other_index < index)) {
    value = other_value;
    index = other_index;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    argmax_kernel(const T* __restrict__ logits, int64_t vocab, int32_t* token, float* logprob) {
  __shared__ float values[32];
  __shared__ int indices[32];
  __shared__ float scratch[32];
  // The logits come from the kernel just before (the lm_head product).
  wait_for_previous_kernel();
  const T* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  // Rows of whole 16-byte vectors are read 8 elements per load, with several loads in flight
  // per thread: one block streams the whole row, so load latency, not bandwidth, sets its time.
  const bool vectors = vocab % 8 == 0;
  float best = -FLT_MAX;
  int best_index = INT32_MAX;
  if (vectors) {
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < vocab / 8; c += blockDim.x) {
      const Vec8<T> v = load8(row + c * 8);
#pragma unroll
      for (int i = 0; i < 8; ++i)
        better(best, best_index, to_float(v.e[i]), static_cast<int>(c * 8 + i));
    }
  } else {
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x)
      better(best, best_index, to_float(row[i]), static_cast<int>(i));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    better(best, best_index, __shfl_xor_sync(0xffffffffu, best, offset),
           __shfl_xor_sync(0xffffffffu, best_index, offset));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    values[warp] = best;
    indices[warp] = best_index;
  }
  __syncthreads();
  best = lane < (blockDim.x >> 5) ? values[lane] : -FLT_MAX;
  best_index = lane < (blockDim.x >> 5) ? indices[lane] : INT32_MAX;
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    better(best, best_index, __shfl_xor_sync(0xffffffffu, best, offset),
           __shfl_xor_sync(0xffffffffu, best_index, offset));
  // log softmax(best) = -log(sum exp(x - best)); the sum stays in float32 like torch's.
  float sum = 0.0f;
  if (vectors) {
#pragma unroll 4
    for (int64_t c = threadIdx.x; c < vocab / 8; c += blockDim.x) {
      const Vec8<T> v = load8(row + c * 8);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum += expf(to_float(v.e[i]) - best);
    }
  } else {
    for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) sum += expf(to_float(row[i]) - best);
  }
  sum = block_sum(sum, scratch);
  if (threadIdx.x == 0) {
    token[blockIdx.x] = best_index;
    logprob[blockIdx.x] = -logf(sum);
  }
}

}  // namespace

void greedy_argmax(DType dtype, const void* logits, int64_t rows, int64_t vocab, int32_t* token,
                   float* logprob, cudaStream_t stream) {
  if (rows == 0) return;
  GLMASR_CHECK(vocab > 0 && vocab < INT32_MAX, "greedy_argmax: expected 0 < vocab < 2^31, got ",
               vocab);
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    launch_dependent(argmax_kernel<T>, static_cast<unsigned>(rows), kThreads, stream,
                     static_cast<const T*>(logits), vocab, token, logprob);
  });
}

}  // namespace glmasr::cuda
