// Fills device memory with reproducible uniform random values (benchmark weights).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// x[i] = center + scale * u_i, u_i uniform in [-1, 1) from a hash of (seed, i).
void random_fill(DType dtype, void* x, int64_t count, float center, float scale, uint64_t seed,
                 cudaStream_t stream);

}  // namespace glmasr::cuda
