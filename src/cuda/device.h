// Which CUDA device glmasr runs on, and whether there is one at all.
#pragma once

#include <string>

namespace glmasr::cuda {

// True when the CUDA runtime sees at least one device. Never throws.
bool device_available();
// "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB)" for the current device.
std::string device_description();

}  // namespace glmasr::cuda
