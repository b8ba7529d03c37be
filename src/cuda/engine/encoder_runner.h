// The audio encoder and projector on the GPU for a batch of 30 s windows at once: every GEMM
// sees windows * 1500 rows. Buffers for up to max_windows windows are planned at construction.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/device_buffer.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/rope.h"

namespace glmasr::cuda {

class EncoderRunner {
 public:
  EncoderRunner(const DeviceModel& model, Gemm& gemm, int max_windows, cudaStream_t stream);

  int max_windows() const { return max_windows_; }
  int mel_frames() const { return 2 * frames_; }            // mel frames per window (3000)
  int frames() const { return frames_; }                    // encoder positions per window (1500)
  int rows_per_window() const { return frames_ / merge_; }  // projector rows per window (375)

  // Device buffer for the input: [max_windows, mel_bins, mel_frames] float32.
  float* mel_input() const { return mel_.as<float>(); }
  // Encodes `windows` windows from mel_input() (asynchronously on the stream).
  void run(int windows);
  // [windows, frames, hidden] after the final LayerNorm, and [windows, rows_per_window, D].
  const void* encoder_output() const { return normed_.get(); }
  const void* projector_output() const { return projected_.get(); }

 private:
  const DeviceModel& model_;
  Gemm& gemm_;
  int max_windows_;
  cudaStream_t stream_;
  int frames_, merge_;
  RopeTable rope_;
  DeviceBuffer mel_, columns1_, conv1_, columns2_, hidden_, normed_, qkv_, attn_, mlp_,
      projector_hidden_, projected_;
};

}  // namespace glmasr::cuda
