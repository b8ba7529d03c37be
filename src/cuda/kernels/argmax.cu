#include <algorithm>
#include <cfloat>
#include <cmath>

#include "cuda/check.h"
#include "cuda/kernels/argmax.h"
#include "cuda/kernels/argmax_running.cuh"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"

namespace glmasr::cuda {
namespace {

// A row is cut into up to kMaxParts parts, one block each: one block per row took ~10 us on the
// H100 for the decoder's 59264 logits, bound by its single multiprocessor's arithmetic (an exp
// per logit), not by the 118 KB it reads. The last block of a row to finish merges the parts.
constexpr int kThreads = 256;
constexpr int kVectorsPerThread = 4;  // 16-byte loads issued before the first use
constexpr int kMaxParts = 32;         // merged by one warp
constexpr int kElementsPerPart = kThreads * kVectorsPerThread * 8;

// The workspace: a finished-parts counter per row (zero between launches: the merging block
// resets it), then kMaxParts partial results per row.
struct Workspace {
  int* finished;
  RunningArgmax* parts;
};

// Bytes of the counters, rounded up so that the partial results start 16-byte aligned.
size_t counter_bytes(int64_t rows) {
  return (rows * sizeof(int) + 15) / 16 * 16;
}

Workspace workspace_layout(void* base, int64_t rows) {
  auto* bytes = static_cast<char*>(base);
  return {reinterpret_cast<int*>(bytes),
          reinterpret_cast<RunningArgmax*>(bytes + counter_bytes(rows))};
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    argmax_kernel(const T* __restrict__ logits, int64_t vocab, int32_t* token, float* logprob,
                  Workspace work) {
  __shared__ RunningArgmax warps[kThreads / 32];
  __shared__ bool last;
  // The logits come from the kernel just before (the lm_head product).
  wait_for_previous_kernel();
  const int part = blockIdx.x, parts = gridDim.x, r = blockIdx.y;
  const T* row = logits + static_cast<int64_t>(r) * vocab;
  RunningArgmax mine = RunningArgmax::empty();
  if (vocab % 8 == 0) {
    const int64_t vectors = vocab / 8, per_part = (vectors + parts - 1) / parts;
    const int64_t begin = part * per_part, end = min(vectors, begin + per_part);
    for (int64_t first = begin; first < end; first += kThreads * kVectorsPerThread) {
      Vec8<T> v[kVectorsPerThread];
#pragma unroll
      for (int k = 0; k < kVectorsPerThread; ++k) {
        const int64_t c = first + k * kThreads + threadIdx.x;
        if (c < end) v[k] = load8(row + c * 8);
      }
#pragma unroll
      for (int k = 0; k < kVectorsPerThread; ++k) {
        const int64_t c = first + k * kThreads + threadIdx.x;
        if (c < end)
#pragma unroll
          for (int i = 0; i < 8; ++i) mine.add(to_float(v[k].e[i]), static_cast<int>(c * 8 + i));
      }
    }
  } else {
    const int64_t per_part = (vocab + parts - 1) / parts;
    const int64_t end = min(vocab, (part + 1) * per_part);
    for (int64_t i = part * per_part + threadIdx.x; i < end; i += kThreads)
      mine.add(to_float(row[i]), static_cast<int>(i));
  }
  mine = warp_merge_argmax(mine);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) warps[warp] = mine;
  __syncthreads();
  if (warp != 0) return;
  mine = warp_merge_argmax(lane < kThreads / 32 ? warps[lane] : RunningArgmax::empty());
  // Publish this part; the block that finishes a row's last part merges them all.
  RunningArgmax* row_parts = work.parts + static_cast<int64_t>(r) * kMaxParts;
  if (lane == 0) {
    row_parts[part] = mine;
    __threadfence();
    last = atomicAdd(&work.finished[r], 1) == parts - 1;
  }
  __syncwarp();
  if (!last) return;
  __threadfence();
  RunningArgmax all = RunningArgmax::empty();
  if (lane < parts) {
    const volatile RunningArgmax* mine_in_memory =
        row_parts + lane;  // past L1: other blocks wrote it
    all = {mine_in_memory->max, mine_in_memory->index, mine_in_memory->sum};
  }
  all = warp_merge_argmax(all);
  if (lane == 0) {
    // log softmax(max) = -log(sum exp(x - max)); the sum stays in float32 like torch's.
    token[r] = all.index;
    logprob[r] = -logf(all.sum);
    work.finished[r] = 0;  // ready for the next launch (in a graph, the next replay)
  }
}

int parts_per_row(int64_t vocab) {
  return static_cast<int>(
      std::min<int64_t>(kMaxParts, (vocab + kElementsPerPart - 1) / kElementsPerPart));
}

}  // namespace

size_t greedy_argmax_workspace_bytes(int64_t rows) {
  GLMASR_CHECK(rows >= 1, "greedy_argmax_workspace_bytes: expected rows >= 1, got ", rows);
  return counter_bytes(rows) + rows * kMaxParts * sizeof(RunningArgmax);
}

void greedy_argmax(DType dtype, const void* logits, int64_t rows, int64_t vocab, int32_t* token,
                   float* logprob, void* workspace, cudaStream_t stream) {
  if (rows == 0) return;
  GLMASR_CHECK(vocab > 0 && vocab < INT32_MAX, "greedy_argmax: expected 0 < vocab < 2^31, got ",
               vocab);
  GLMASR_CHECK(rows <= 65535, "greedy_argmax: expected at most 65535 rows, got ", rows);
  GLMASR_CHECK(workspace != nullptr,
               "greedy_argmax: expected a zeroed workspace of greedy_argmax_workspace_bytes(rows)");
  const Workspace work = workspace_layout(workspace, rows);
  const dim3 grid(parts_per_row(vocab), static_cast<unsigned>(rows));
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    launch_dependent(argmax_kernel<T>, {grid, kThreads, stream}, static_cast<const T*>(logits),
                     vocab, token, logprob, work);
  });
}

}  // namespace glmasr::cuda
