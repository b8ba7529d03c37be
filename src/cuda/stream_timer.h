// Timing work on a stream with CUDA events: for the choices the engine makes by measurement on
// the device it runs on (which projection kernel a step takes), and for glmasr bench.
#pragma once

#include <cuda_runtime.h>

#include <functional>

namespace glmasr::cuda {

// Median milliseconds of one `work` (what it enqueues on `stream`) over `samples` timed runs,
// after `warmup` untimed ones (plans, first touch). Synchronises the stream; not inside a capture.
double median_stream_ms(cudaStream_t stream, const std::function<void()>& work, int samples = 5,
                        int warmup = 1);

}  // namespace glmasr::cuda
