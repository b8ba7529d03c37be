#include "cuda/check.h"
#include "cuda/kernels/dependent_launch.cuh"
#include "cuda/kernels/element.cuh"
#include "cuda/kernels/embedding.h"
#include "cuda/kernels/fed_token.cuh"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void embed_kernel(const T* __restrict__ table, int64_t vocab, int dim,
                             const int32_t* __restrict__ ids, const int32_t* __restrict__ audio_row,
                             const T* __restrict__ audio, T* __restrict__ out, FedTokens fed) {
  // The first kernel of a decoding step: the QKV projection after it (a dependent launch) may
  // start loading its weights now; it waits for this grid before reading the rows.
  allow_next_kernel();
  const int64_t r = blockIdx.x;
  const T* source = nullptr;
  if (audio_row != nullptr && audio_row[r] >= 0) {
    source = audio + static_cast<int64_t>(audio_row[r]) * dim;
  } else {
    const int32_t id = fed_token(ids, fed, r);
    if (id >= 0 && id < vocab) source = table + static_cast<int64_t>(id) * dim;
  }
  T* dst = out + r * dim;
  const auto bits = reinterpret_cast<uintptr_t>(dst) | reinterpret_cast<uintptr_t>(source);
  if (dim % 8 == 0 && bits % 16 == 0) {  // rows of 16-byte vectors
    for (int i = threadIdx.x; i < dim / 8; i += blockDim.x)
      reinterpret_cast<uint4*>(dst)[i] =
          source ? reinterpret_cast<const uint4*>(source)[i] : make_uint4(0, 0, 0, 0);
    return;
  }
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    dst[i] = source ? source[i] : from_float<T>(0.0f);
}

}  // namespace

void embed_tokens(DType dtype, const void* table, int64_t vocab, int dim, const int32_t* ids,
                  const int32_t* audio_row, const void* audio, int64_t rows, void* out,
                  cudaStream_t stream, FedTokens fed) {
  if (rows == 0) return;
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    embed_kernel<T><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
        static_cast<const T*>(table), vocab, dim, ids, audio_row, static_cast<const T*>(audio),
        static_cast<T*>(out), fed);
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
