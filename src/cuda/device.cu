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

namespace {

// One slot per device and attribute, 0 until first queried: a relaxed race only repeats the same
// query.
template <typename Query>
int cached_per_device(std::array<std::atomic<int>, kMaxDevices>& slots, Query query) {
  const int device = current_device();
  int value = slots[device].load(std::memory_order_relaxed);
  if (value == 0) {
    value = query(device);
    slots[device].store(value, std::memory_order_relaxed);
  }
  return value;
}

int attribute(cudaDeviceAttr what, int device) {
  int value = 0;
  GLMASR_CUDA_CHECK(cudaDeviceGetAttribute(&value, what, device));
  return value;
}

}  // namespace

int sm_count() {
  static std::array<std::atomic<int>, kMaxDevices> counts{};
  return cached_per_device(
      counts, [](int device) { return attribute(cudaDevAttrMultiProcessorCount, device); });
}

int compute_capability() {
  static std::array<std::atomic<int>, kMaxDevices> capabilities{};
  return cached_per_device(capabilities, [](int device) {
    return 10 * attribute(cudaDevAttrComputeCapabilityMajor, device) +
           attribute(cudaDevAttrComputeCapabilityMinor, device);
  });
}

}  // namespace glmasr::cuda
