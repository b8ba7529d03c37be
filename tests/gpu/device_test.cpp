// The device queries the launch math relies on.
#include "cuda/device.h"

#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <string>

#include "cuda/check.h"
#include "testing/gpu.h"

namespace glmasr::cuda {
namespace {

TEST(DeviceTest, SmCountIsTheCurrentDevicesMultiprocessorCount) {
  GLMASR_SKIP_WITHOUT_GPU();
  int device = 0;
  GLMASR_CUDA_CHECK(cudaGetDevice(&device));
  cudaDeviceProp prop{};
  GLMASR_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  EXPECT_EQ(sm_count(), prop.multiProcessorCount);
  EXPECT_EQ(sm_count(), prop.multiProcessorCount) << "the cached value differs from the first";
  EXPECT_NE(device_description().find(std::to_string(prop.multiProcessorCount) + " SMs"),
            std::string::npos)
      << device_description();
}

}  // namespace
}  // namespace glmasr::cuda
