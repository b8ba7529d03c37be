// Greedy decoding on the device: per row, the index of the largest logit (the first one on
// ties, as torch.argmax) and its log-softmax, so only two numbers per sequence reach the host.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// logits [rows, vocab] of `dtype`; token [rows] and logprob [rows] on the device.
void greedy_argmax(DType dtype, const void* logits, int64_t rows, int64_t vocab, int32_t* token,
                   float* logprob, cudaStream_t stream);

}  // namespace glmasr::cuda
