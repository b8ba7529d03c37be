#include <array>
#include <atomic>

#include "cuda/check.h"
#include "cuda/device.h"

namespace glmasr::cuda {

int device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" status
    return 0;
  }
  return count;
}

bool device_available() {
  return device_count() > 0;
}

std::string device_description() {
  int device = 0;
  GLMASR_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  GLMASR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return cat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
             static_cast<double>(prop.totalGlobalMem) / (1 << 30), " GiB)");
}

int current_device() {
  int device = 0;
  GLMASR_CUDA_CHECK(cudaGetDevice(&device));
  GLMASR_CHECK(device >= 0 && device < kMaxDevices, "expected a CUDA device index below ",
               kMaxDevices, ", got ", device);
  return device;
}

int sm_count() {
  // One slot per device, 0 until first queried: a relaxed race only repeats the same query.
  static std::array<std::atomic<int>, kMaxDevices> counts{};
  const int device = current_device();
  int count = counts[device].load(std::memory_order_relaxed);
  if (count == 0) {
    GLMASR_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device));
    counts[device].store(count, std::memory_order_relaxed);
  }
  return count;
}

}  // namespace glmasr::cuda
