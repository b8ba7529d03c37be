// For tests labelled gpu: skip with a message when no CUDA device exists (CI has none).
#pragma once

#include <gtest/gtest.h>

#include "cuda/device.h"

#define GLMASR_SKIP_WITHOUT_GPU()                                          \
  do {                                                                     \
    if (!::glmasr::cuda::device_available())                               \
      GTEST_SKIP() << "no CUDA device on this machine: GPU test skipped";  \
  } while (0)
