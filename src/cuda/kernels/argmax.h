// Greedy decoding on the device: per row, the index of the largest logit (the first one on
// ties, as torch.argmax) and its log-softmax, so only two numbers per sequence reach the host.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"

namespace glmasr::cuda {

// Device bytes greedy_argmax needs for up to `rows` rows. The caller zeroes them once (cudaMemset)
// and passes them to every call; each call leaves them zeroed again.
size_t greedy_argmax_workspace_bytes(int64_t rows);

// logits [rows, vocab] of `dtype`; token [rows] and logprob [rows] on the device. A dependent
// launch (it waits for the kernel ahead of it before reading the logits). Calls sharing a
// workspace must not run concurrently.
void greedy_argmax(DType dtype, const void* logits, int64_t rows, int64_t vocab, int32_t* token,
                   float* logprob, void* workspace, cudaStream_t stream);

}  // namespace glmasr::cuda
