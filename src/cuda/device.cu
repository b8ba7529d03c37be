#include "cuda/check.h"
#include "cuda/device.h"

namespace glmasr::cuda {

bool device_available() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" status
    return false;
  }
  return count > 0;
}

std::string device_description() {
  int device = 0;
  GLMASR_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  GLMASR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  return cat(prop.name, " (sm_", prop.major, prop.minor, ", ", prop.multiProcessorCount, " SMs, ",
             static_cast<double>(prop.totalGlobalMem) / (1 << 30), " GiB)");
}

}  // namespace glmasr::cuda
