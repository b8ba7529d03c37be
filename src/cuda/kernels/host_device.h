// GLMASR_HOST_DEVICE: a function both the host and CUDA kernels call (plain C++ outside nvcc), so
// that launch math and device-side work lists share one definition that host tests can check.
#pragma once

#if defined(__CUDACC__)
#define GLMASR_HOST_DEVICE __host__ __device__
#else
#define GLMASR_HOST_DEVICE
#endif
