#include "cuda/check.h"
#include "cuda/element.cuh"
#include "cuda/embedding.h"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void embed_kernel(const T* __restrict__ table, int64_t vocab, int dim,
                             const int32_t* __restrict__ ids, const int32_t* __restrict__ audio_row,
                             const T* __restrict__ audio, T* __restrict__ out) {
  const int64_t r = blockIdx.x;
  const T* source = nullptr;
  if (audio_row != nullptr && audio_row[r] >= 0) {
    source = audio + static_cast<int64_t>(audio_row[r]) * dim;
  } else {
    const int32_t id = ids[r];
    if (id >= 0 && id < vocab) source = table + static_cast<int64_t>(id) * dim;
  }
  T* dst = out + r * dim;
  for (int i = threadIdx.x; i < dim; i += blockDim.x)
    dst[i] = source ? source[i] : from_float<T>(0.0f);
}

}  // namespace

void embed_tokens(DType dtype, const void* table, int64_t vocab, int dim, const int32_t* ids,
                  const int32_t* audio_row, const void* audio, int64_t rows, void* out,
                  cudaStream_t stream) {
  if (rows == 0) return;
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    embed_kernel<T><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
        static_cast<const T*>(table), vocab, dim, ids, audio_row, static_cast<const T*>(audio),
        static_cast<T*>(out));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

}  // namespace glmasr::cuda
