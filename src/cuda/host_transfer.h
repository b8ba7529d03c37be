// Copies between host float vectors and 16-bit (bf16 or fp16) device arrays, synchronously.
// For parity checks, tests and the engine's diagnostic outputs; never on the decoding path.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"

namespace glmasr::cuda {

// Waits for the device, then reads `count` bf16/fp16 values as floats.
std::vector<float> download_floats(const void* device, int64_t count, DType dtype);
// A new device buffer holding `values` rounded to bf16/fp16 (at least 16 bytes).
DeviceBuffer upload_floats(const std::vector<float>& values, DType dtype);

}  // namespace glmasr::cuda
