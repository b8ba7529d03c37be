// CudaGraph: capture, replay, ownership, and a capture abandoned by a throwing enqueue.
#include "cuda/cuda_graph.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device_buffer.h"
#include "testing/gpu.h"

namespace glmasr::cuda {
namespace {

std::vector<uint8_t> read_bytes(const DeviceBuffer& buffer) {
  std::vector<uint8_t> host(buffer.bytes());
  GLMASR_CUDA_CHECK(cudaMemcpy(host.data(), buffer.get(), host.size(), cudaMemcpyDeviceToHost));
  return host;
}

TEST(CudaGraphTest, ReplaysTheCapturedWorkOnEachLaunch) {
  GLMASR_SKIP_WITHOUT_GPU();
  cudaStream_t stream = nullptr;
  GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  DeviceBuffer buffer(64);
  GLMASR_CUDA_CHECK(cudaMemset(buffer.get(), 0, buffer.bytes()));
  CudaGraph graph = CudaGraph::capture(stream, [&] {
    GLMASR_CUDA_CHECK(cudaMemsetAsync(buffer.get(), 0x5a, buffer.bytes(), stream));
  });
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  EXPECT_EQ(read_bytes(buffer), std::vector<uint8_t>(64, 0)) << "capture must not run the work";
  for (int replay = 0; replay < 2; ++replay) {
    GLMASR_CUDA_CHECK(cudaMemset(buffer.get(), 0, buffer.bytes()));
    graph.launch(stream);
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
    EXPECT_EQ(read_bytes(buffer), std::vector<uint8_t>(64, 0x5a)) << "replay " << replay;
  }
  // Moving hands over the executable graph; the source is left empty and refuses to launch.
  CudaGraph moved = std::move(graph);
  EXPECT_TRUE(graph.empty());
  EXPECT_FALSE(moved.empty());
  EXPECT_THROW(graph.launch(stream), Error);
  moved.launch(stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaStreamDestroy(stream);
}

TEST(CudaGraphTest, ThrowingEnqueueEndsTheCaptureAndRethrows) {
  GLMASR_SKIP_WITHOUT_GPU();
  cudaStream_t stream = nullptr;
  GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  EXPECT_THROW(CudaGraph::capture(stream, [] { throw std::runtime_error("enqueue failed"); }),
               std::runtime_error);
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusActive;
  GLMASR_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  EXPECT_EQ(status, cudaStreamCaptureStatusNone);
  // The stream takes ordinary work and new captures again.
  DeviceBuffer buffer(16);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(buffer.get(), 1, buffer.bytes(), stream));
  CudaGraph graph = CudaGraph::capture(
      stream, [&] { GLMASR_CUDA_CHECK(cudaMemsetAsync(buffer.get(), 2, buffer.bytes(), stream)); });
  graph.launch(stream);
  GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream));
  EXPECT_EQ(read_bytes(buffer), std::vector<uint8_t>(16, 2));
  cudaStreamDestroy(stream);
}

}  // namespace
}  // namespace glmasr::cuda
