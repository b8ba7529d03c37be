#include "cuda/host_transfer.h"

#include <algorithm>

#include "cuda/check.h"

namespace glmasr::cuda {

std::vector<float> download_floats(const void* device, int64_t count, DType dtype) {
  GLMASR_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<uint16_t> bits(static_cast<size_t>(count));
  GLMASR_CUDA_CHECK(cudaMemcpy(bits.data(), device, bits.size() * 2, cudaMemcpyDeviceToHost));
  std::vector<float> values(bits.size());
  for (size_t i = 0; i < bits.size(); ++i)
    values[i] = dtype == DType::kBF16 ? bf16_to_float(bits[i]) : fp16_to_float(bits[i]);
  return values;
}

DeviceBuffer upload_floats(const std::vector<float>& values, DType dtype) {
  std::vector<uint16_t> bits(values.size());
  for (size_t i = 0; i < values.size(); ++i)
    bits[i] = dtype == DType::kBF16 ? float_to_bf16(values[i]) : float_to_fp16(values[i]);
  DeviceBuffer buffer(std::max<size_t>(bits.size() * 2, 16));
  GLMASR_CUDA_CHECK(cudaMemcpy(buffer.get(), bits.data(), bits.size() * 2, cudaMemcpyHostToDevice));
  return buffer;
}

}  // namespace glmasr::cuda
