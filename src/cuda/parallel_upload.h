// Host-to-device copies of many byte ranges (the memory-mapped checkpoint's tensors) at the
// speed of the slowest of page faults, host copies and DMA rather than of their sum: several
// threads each take the next chunk, copy it into one of their two pinned staging buffers
// (faulting the file's pages in, in parallel) and hand it to the copy engine on their own stream
// while they fill the other buffer.
#pragma once

#include <cstddef>
#include <vector>

namespace glmasr::cuda {

struct HostToDeviceCopy {
  const std::byte* src = nullptr;
  size_t bytes = 0;
  void* dst = nullptr;  // on the calling thread's current device
};

// Returns when every copy has landed. Throws the first failure (glmasr::DeviceError for CUDA).
void parallel_upload(const std::vector<HostToDeviceCopy>& copies, int threads,
                     size_t chunk_bytes = size_t{16} << 20);

}  // namespace glmasr::cuda
