// Token embedding gather with the audio rows spliced in: row r of the output is
// audio[audio_row[r]] when audio_row[r] >= 0, else table[ids[r]].
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// Ids of a decoding step that the host does not know yet: row r takes previous[follows[r]] (the
// token the step before chose) where follows[r] >= 0, else ids[r]. Both device int32, or null.
struct FedTokens {
  const int32_t* follows = nullptr;
  const int32_t* previous = nullptr;
};

// table [vocab, dim]; ids [rows] (device int32); audio_row [rows] (device int32) and audio
// [*, dim] may both be null; out [rows, dim]. Ids outside [0, vocab) produce a zero row (the
// host validates ids before they get here; this keeps a bad id from reading out of bounds).
void embed_tokens(DType dtype, const void* table, int64_t vocab, int dim, const int32_t* ids,
                  const int32_t* audio_row, const void* audio, int64_t rows, void* out,
                  cudaStream_t stream, FedTokens fed = {});

}  // namespace glmasr::cuda
