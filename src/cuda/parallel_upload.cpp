#include "cuda/parallel_upload.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <mutex>
#include <thread>

#include "core/error.h"
#include "cuda/check.h"

namespace glmasr::cuda {
namespace {

struct Chunk {
  const std::byte* src;
  size_t bytes;
  std::byte* dst;
};

// One thread's stream, two pinned buffers and the events that say when each is free again.
class Stager {
 public:
  explicit Stager(size_t bytes) {
    GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    for (int b = 0; b < 2; ++b) {
      GLMASR_CUDA_CHECK(cudaMallocHost(reinterpret_cast<void**>(&buffer_[b]), bytes));
      GLMASR_CUDA_CHECK(cudaEventCreateWithFlags(&free_[b], cudaEventDisableTiming));
    }
  }
  ~Stager() {
    if (stream_) cudaStreamSynchronize(stream_);
    for (int b = 0; b < 2; ++b) {
      if (buffer_[b]) cudaFreeHost(buffer_[b]);
      if (free_[b]) cudaEventDestroy(free_[b]);
    }
    if (stream_) cudaStreamDestroy(stream_);
  }
  Stager(const Stager&) = delete;
  Stager& operator=(const Stager&) = delete;

  void copy(const Chunk& chunk) {
    const int b = next_;
    next_ ^= 1;
    GLMASR_CUDA_CHECK(cudaEventSynchronize(free_[b]));  // its previous copy has been read
    std::memcpy(buffer_[b], chunk.src, chunk.bytes);
    GLMASR_CUDA_CHECK(
        cudaMemcpyAsync(chunk.dst, buffer_[b], chunk.bytes, cudaMemcpyHostToDevice, stream_));
    GLMASR_CUDA_CHECK(cudaEventRecord(free_[b], stream_));
  }
  void finish() { GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaStream_t stream_ = nullptr;
  std::byte* buffer_[2] = {nullptr, nullptr};
  cudaEvent_t free_[2] = {nullptr, nullptr};
  int next_ = 0;
};

}  // namespace

void parallel_upload(const std::vector<HostToDeviceCopy>& copies, int threads, size_t chunk_bytes) {
  GLMASR_CHECK(chunk_bytes > 0, "parallel upload: expected a positive chunk size");
  std::vector<Chunk> chunks;
  size_t total = 0;
  for (const HostToDeviceCopy& copy : copies)
    for (size_t at = 0; at < copy.bytes; at += chunk_bytes)
      chunks.push_back({copy.src + at, std::min(chunk_bytes, copy.bytes - at),
                        static_cast<std::byte*>(copy.dst) + at});
  for (const Chunk& chunk : chunks) total += chunk.bytes;
  if (chunks.empty()) return;
  const int workers =
      static_cast<int>(std::clamp<size_t>(static_cast<size_t>(threads), 1, chunks.size()));
  const size_t staging = std::min(chunk_bytes, total);

  int device = 0;
  GLMASR_CUDA_CHECK(cudaGetDevice(&device));
  std::atomic<size_t> next{0};
  std::mutex failure_mutex;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      GLMASR_CUDA_CHECK(cudaSetDevice(device));  // the current device is per thread
      Stager stager(staging);
      for (size_t k = next++; k < chunks.size(); k = next++) stager.copy(chunks[k]);
      stager.finish();
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = chunks.size();  // the others stop at their next chunk
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < workers; ++t) pool.emplace_back(work);
  work();
  for (auto& thread : pool) thread.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace glmasr::cuda
