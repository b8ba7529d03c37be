// The audio encoder and projector on the GPU for a batch of 30 s windows at once: every GEMM
// sees windows * 1500 rows. Buffers for up to max_windows windows are planned at construction.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/device_buffer.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/gemm_gelu.h"
#include "cuda/kernels/rope.h"

namespace glmasr::cuda {

// The encoder's stages, for benchmarks that time the encoder without one of them (the stage's
// cost in the encoder); the engine always runs all.
enum EncoderStage : unsigned {
  kEncoderStem = 1u << 0,       // the two convolutions (as GEMMs over im2col columns)
  kEncoderNorms = 1u << 1,      // the two LayerNorms of every layer and the final one
  kEncoderQkv = 1u << 2,        // the fused QKV projection (+ bias)
  kEncoderRope = 1u << 3,       // rotary embedding of q and k
  kEncoderAttention = 1u << 4,  // bidirectional attention over each window's 1500 frames
  kEncoderOut = 1u << 5,        // o_proj (+ bias + residual)
  kEncoderFc1 = 1u << 6,        // fc1 (+ bias)
  kEncoderGelu = 1u << 7,       // GELU after fc1 and in the projector (where it is a pass)
  kEncoderFc2 = 1u << 8,        // fc2 (+ bias + residual)
  kEncoderProjector = 1u << 9,  // the projector's two GEMMs
  kEncoderAll = (1u << 10) - 1,
};

class EncoderRunner {
 public:
  // gelu: where the GELUs after the conv stem's GEMMs, fc1 and the projector's first GEMM run
  // (gemm_gelu.h); the epilogue by default, since it is both faster and no less accurate
  // (docs/performance.md, session 12).
  EncoderRunner(const DeviceModel& model, Gemm& gemm, int max_windows, cudaStream_t stream,
                GeluPlacement gelu = GeluPlacement::kGemmEpilogue);

  int max_windows() const { return max_windows_; }
  int mel_frames() const { return 2 * frames_; }            // mel frames per window (3000)
  int frames() const { return frames_; }                    // encoder positions per window (1500)
  int rows_per_window() const { return frames_ / merge_; }  // projector rows per window (375)

  // Device buffer for the input: [max_windows, mel_bins, mel_frames] float32.
  float* mel_input() const { return mel_.as<float>(); }
  // Encodes `windows` windows from mel_input() (asynchronously on the stream); benchmarks may
  // leave stages out.
  void run(int windows, unsigned stages = kEncoderAll);
  // Runs the stem, the first layer and the projector on `windows` windows, on whatever the
  // buffers and weights hold: every layer has the first one's shapes, so every kernel and GEMM
  // algorithm a batch of that size launches is then loaded (gemm.h). Nothing is timed; the
  // outputs are garbage.
  void warm_up(int windows) { run_layers(windows, kEncoderAll, 1); }
  // [windows, frames, hidden] after the final LayerNorm, and [windows, rows_per_window, D].
  const void* encoder_output() const { return normed_.get(); }
  const void* projector_output() const { return projected_.get(); }

 private:
  // y = gelu(x wᵀ + bias) in the placement chosen at construction (without the GELU when the
  // stages leave it out).
  void fc_then_gelu(const void* x, int64_t rows, int64_t in, const void* w, int64_t out,
                    const void* bias, void* y, unsigned stages);
  // run() through the first `layers` layers only.
  void run_layers(int windows, unsigned stages, size_t layers);

  const DeviceModel& model_;
  Gemm& gemm_;
  int max_windows_;
  cudaStream_t stream_;
  GeluPlacement gelu_;
  int frames_, merge_;
  RopeTable rope_;
  DeviceBuffer mel_, columns1_, conv1_, columns2_, hidden_, normed_, qkv_, attn_, mlp_,
      projector_hidden_, projected_;
};

}  // namespace glmasr::cuda
