// The running greedy choice of a stretch of logits: (max, its first index, sum of exp(x - max)),
// an online softmax so a row is read once. Shared by the argmax kernel and the persistent
// decoding step, which folds the choice into its lm_head epilogue.
#pragma once

#include <cfloat>
#include <climits>
#include <cmath>

namespace glmasr::cuda {

struct RunningArgmax {
  float max;
  int index;
  float sum;

  static __device__ __forceinline__ RunningArgmax empty() { return {-INFINITY, INT32_MAX, 0.0f}; }
  // Elements must come in increasing index order (a later equal value never wins).
  __device__ __forceinline__ void add(float x, int i) {
    if (x > max) {
      sum = sum * expf(max - x) + 1.0f;  // expf(-inf) = 0 for the first element
      max = x;
      index = i;
    } else if (x != -INFINITY) {
      sum += expf(x - max);
    }
  }
  // Parts in any order: ties go to the lower index, as torch.argmax.
  __device__ __forceinline__ void merge(const RunningArgmax& o) {
    const float top = fmaxf(max, o.max);
    if (top == -INFINITY) return;
    sum = sum * expf(max - top) + o.sum * expf(o.max - top);
    if (o.max > max || (o.max == max && o.index < index)) index = o.index;
    max = top;
  }
};

__device__ __forceinline__ RunningArgmax warp_merge_argmax(RunningArgmax r) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    RunningArgmax o;
    o.max = __shfl_xor_sync(0xffffffffu, r.max, offset);
    o.index = __shfl_xor_sync(0xffffffffu, r.index, offset);
    o.sum = __shfl_xor_sync(0xffffffffu, r.sum, offset);
    r.merge(o);
  }
  return r;
}

}  // namespace glmasr::cuda
