#include "cuda/stream_timer.h"

#include <algorithm>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"

namespace glmasr::cuda {

double median_stream_ms(cudaStream_t stream, const std::function<void()>& work, int samples,
                        int warmup) {
  GLMASR_CHECK(samples >= 1, "median_stream_ms: expected at least one sample, got ", samples);
  cudaEvent_t start = nullptr, stop = nullptr;
  GLMASR_CUDA_CHECK(cudaEventCreate(&start));
  GLMASR_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> times;
  try {
    for (int i = 0; i < warmup; ++i) work();
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
    for (int i = 0; i < samples; ++i) {
      GLMASR_CUDA_CHECK(cudaEventRecord(start, stream));
      work();
      GLMASR_CUDA_CHECK(cudaEventRecord(stop, stream));
      GLMASR_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      GLMASR_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      times.push_back(ms);
    }
  } catch (...) {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    throw;
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace glmasr::cuda
