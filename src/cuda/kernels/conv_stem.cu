#include "cuda/check.h"
#include "cuda/kernels/conv_stem.h"
#include "cuda/kernels/element.cuh"

namespace glmasr::cuda {
namespace {

template <typename T>
__global__ void im2col_conv1_kernel(const float* __restrict__ mel, int channels, int frames,
                                    T* __restrict__ columns) {
  const int64_t out_row = blockIdx.x;  // window * frames + t
  const int64_t window = out_row / frames;
  const int t = static_cast<int>(out_row % frames);
  const float* source = mel + window * channels * frames;
  T* dst = columns + out_row * 3 * channels;
  for (int i = threadIdx.x; i < 3 * channels; i += blockDim.x) {
    const int tap = i / channels, c = i % channels;
    const int frame = t + tap - 1;
    dst[i] = from_float<T>(frame >= 0 && frame < frames ? source[c * frames + frame] : 0.0f);
  }
}

template <typename T>
__global__ void im2col_conv2_kernel(const T* __restrict__ x, int frames, int out_frames,
                                    int channels, T* __restrict__ columns) {
  const int64_t out_row = blockIdx.x;  // window * out_frames + t
  const int64_t window = out_row / out_frames;
  const int t = static_cast<int>(out_row % out_frames);
  T* dst = columns + out_row * 3 * channels;
  for (int i = threadIdx.x; i < 3 * channels; i += blockDim.x) {
    const int tap = i / channels, c = i % channels;
    const int frame = 2 * t + tap - 1;
    dst[i] = frame >= 0 && frame < frames ? x[(window * frames + frame) * channels + c]
                                          : from_float<T>(0.0f);
  }
}

}  // namespace

void im2col_conv1(DType dtype, const float* mel, int64_t windows, int channels, int frames,
                  void* columns, cudaStream_t stream) {
  const int64_t rows = windows * frames;
  if (rows == 0) return;
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    im2col_conv1_kernel<T><<<static_cast<unsigned>(rows), 128, 0, stream>>>(
        mel, channels, frames, static_cast<T*>(columns));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

void im2col_conv2(DType dtype, const void* x, int64_t windows, int frames, int channels,
                  void* columns, cudaStream_t stream) {
  const int out_frames = (frames - 1) / 2 + 1;
  const int64_t rows = windows * out_frames;
  if (rows == 0) return;
  GLMASR_DISPATCH_ELEMENT(dtype, T, {
    im2col_conv2_kernel<T><<<static_cast<unsigned>(rows), 256, 0, stream>>>(
        static_cast<const T*>(x), frames, out_frames, channels, static_cast<T*>(columns));
  });
  GLMASR_CUDA_CHECK_LAUNCH();
}

void conv_stem(Gemm& gemm, GeluPlacement gelu, const ConvStemWeights& weights, const float* mel,
               int64_t windows, int mel_bins, int frames, int hidden, void* columns1,
               void* conv1_out, void* columns2, void* out, cudaStream_t stream) {
  const DType dtype = gemm.dtype();
  const int out_frames = (frames - 1) / 2 + 1;
  im2col_conv1(dtype, mel, windows, mel_bins, frames, columns1, stream);
  gemm_gelu(gemm, gelu, columns1, windows * frames, 3 * mel_bins, weights.conv1_weight, hidden,
            weights.conv1_bias, conv1_out, stream);
  im2col_conv2(dtype, conv1_out, windows, frames, hidden, columns2, stream);
  gemm_gelu(gemm, gelu, columns2, windows * out_frames, 3 * hidden, weights.conv2_weight, hidden,
            weights.conv2_bias, out, stream);
}

}  // namespace glmasr::cuda
