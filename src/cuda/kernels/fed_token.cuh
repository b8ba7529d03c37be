// Which id a decoding step's row feeds: one rule for the embedding kernel and the persistent step.
#pragma once

#include <cstdint>

#include "cuda/kernels/embedding.h"

namespace glmasr::cuda {

__device__ __forceinline__ int32_t fed_token(const int32_t* ids, FedTokens fed, int64_t r) {
  return fed.follows != nullptr && fed.follows[r] >= 0 ? fed.previous[fed.follows[r]] : ids[r];
}

}  // namespace glmasr::cuda
