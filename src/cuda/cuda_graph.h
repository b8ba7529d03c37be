// An owning, instantiated CUDA graph: what one call enqueued on a stream, captured once and
// replayed with one launch (the decoding step; the benches and tests that time or replay it).
#pragma once

#include <cuda_runtime.h>

#include <functional>
#include <utility>

namespace glmasr::cuda {

class CudaGraph {
 public:
  // Captures the work `enqueue` puts on `stream` and instantiates it. The capture is
  // thread-local: another thread's unsafe calls (a cudaMalloc in a concurrent request) do not
  // invalidate it. If `enqueue` throws, the capture is ended and discarded before the exception
  // goes on, so the stream is usable again.
  static CudaGraph capture(cudaStream_t stream, const std::function<void()>& enqueue);

  CudaGraph() = default;
  ~CudaGraph() { reset(); }
  CudaGraph(CudaGraph&& other) noexcept : exec_(std::exchange(other.exec_, nullptr)) {}
  CudaGraph& operator=(CudaGraph&& other) noexcept {
    if (this != &other) {
      reset();
      exec_ = std::exchange(other.exec_, nullptr);
    }
    return *this;
  }
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Enqueues one replay on `stream`. Throws glmasr::Error for an empty (moved-from) graph.
  void launch(cudaStream_t stream) const;
  bool empty() const { return exec_ == nullptr; }

 private:
  explicit CudaGraph(cudaGraphExec_t exec) : exec_(exec) {}
  void reset() {
    if (exec_) cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }

  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace glmasr::cuda
