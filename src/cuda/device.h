// Which CUDA device glmasr runs on, and whether there is one at all.
#pragma once

#include <string>

namespace glmasr::cuda {

// The devices the CUDA runtime sees, 0 when it sees none (or fails). Never throws.
int device_count();
// True when the CUDA runtime sees at least one device. Never throws.
bool device_available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" for the current device.
std::string device_description();
// The calling thread's current device ordinal, below kMaxDevices.
constexpr int kMaxDevices = 64;
int current_device();
// Streaming multiprocessors of the current device, queried once per device (launch-math host
// functions call it on every launch). Sizes grids that should fill the GPU and no more.
int sm_count();
// The current device's compute capability as major * 10 + minor (90 for Hopper), queried once
// per device.
int compute_capability();

}  // namespace glmasr::cuda
