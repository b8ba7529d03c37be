#include "cuda/cuda_graph.h"

#include "cuda/check.h"

namespace glmasr::cuda {

CudaGraph CudaGraph::capture(cudaStream_t stream, const std::function<void()>& enqueue) {
  cudaGraph_t graph = nullptr;
  GLMASR_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue();
  } catch (...) {
    cudaStreamEndCapture(stream, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  GLMASR_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t status = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  GLMASR_CUDA_CHECK(status);
  return CudaGraph(exec);
}

void CudaGraph::launch(cudaStream_t stream) const {
  GLMASR_CHECK(exec_ != nullptr, "CudaGraph::launch: expected a captured graph, got an empty one");
  GLMASR_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

}  // namespace glmasr::cuda
