// The encoder's convolution stem as two GEMMs: conv1 (kernel 3, stride 1) and conv2 (kernel 3,
// stride 2), each an im2col gather followed by a cuBLASLt product with the bias and GELU placed
// as gemm_gelu.h says. The conv weights are uploaded permuted to
// [out, 3, in] (tap-major), so an im2col row is the three neighbouring input frames side by side.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/dtype.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/gemm_gelu.h"

namespace glmasr::cuda {

// mel [windows, channels, frames] float32 (cast to the element type here, as the reference casts
// the features) -> columns [windows * frames, 3 * channels].
void im2col_conv1(DType dtype, const float* mel, int64_t windows, int channels, int frames,
                  void* columns, cudaStream_t stream);
// x [windows, frames, channels] -> columns [windows * out_frames, 3 * channels] for stride 2,
// out_frames = (frames - 1) / 2 + 1.
void im2col_conv2(DType dtype, const void* x, int64_t windows, int frames, int channels,
                  void* columns, cudaStream_t stream);

struct ConvStemWeights {
  const void* conv1_weight;  // [hidden, 3, mel] (permuted)
  const void* conv1_bias;    // [hidden]
  const void* conv2_weight;  // [hidden, 3, hidden] (permuted)
  const void* conv2_bias;    // [hidden]
};

// mel [windows, mel_bins, frames] float32 on the device -> out [windows, (frames-1)/2+1, hidden].
// columns1 holds windows*frames*3*mel_bins elements, conv1_out windows*frames*hidden, columns2
// windows*((frames-1)/2+1)*3*hidden.
void conv_stem(Gemm& gemm, GeluPlacement gelu, const ConvStemWeights& weights, const float* mel,
               int64_t windows, int mel_bins, int frames, int hidden, void* columns1,
               void* conv1_out, void* columns2, void* out, cudaStream_t stream);

}  // namespace glmasr::cuda
