// CUDA and cuBLAS status checks that throw glmasr::DeviceError (never
// swallowed by a per-request catch: see core/error.h) with the failing call and location.
#pragma once

#include <cuda_runtime.h>

#include "core/error.h"

#define GLMASR_CUDA_CHECK(call)                                                                 \
  do {                                                                                          \
    const cudaError_t status_ = (call);                                                         \
    if (status_ != cudaSuccess) {                                                               \
      /* Cleared, so that the next launch check does not report this error as its own. */       \
      (void)cudaGetLastError();                                                                 \
      throw ::glmasr::DeviceError(::glmasr::cat("CUDA error ", cudaGetErrorName(status_), " (", \
                                                cudaGetErrorString(status_), ") in ", #call,    \
                                                " at ", __FILE__, ":", __LINE__));              \
    }                                                                                           \
  } while (0)

// After a kernel launch: catches bad launch configurations immediately.
#define GLMASR_CUDA_CHECK_LAUNCH() GLMASR_CUDA_CHECK(cudaGetLastError())
