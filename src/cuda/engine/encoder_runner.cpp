#include "cuda/engine/encoder_runner.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/conv_stem.h"
#include "cuda/kernels/layer_norm.h"

namespace glmasr::cuda {

EncoderRunner::EncoderRunner(const DeviceModel& model, Gemm& gemm, int max_windows,
                             cudaStream_t stream, GeluPlacement gelu)
    : model_(model), gemm_(gemm), max_windows_(max_windows), stream_(stream), gelu_(gelu) {
  const EncoderConfig& enc = model.config.encoder;
  frames_ = enc.frames_per_window;
  merge_ = enc.merge_factor;
  GLMASR_CHECK(max_windows > 0 && merge_ > 0 && frames_ % merge_ == 0,
               "encoder: expected frames per window (", frames_,
               ") divisible by the merge factor (", merge_, ")");
  rope_ = make_rope_table(model.dtype, frames_, enc.rotary_dim, enc.rope_theta);
  const int64_t w = max_windows, mel = 2 * frames_, h = enc.hidden_size;
  const int64_t qkv = int64_t{enc.num_heads + 2 * enc.num_kv_heads} * enc.head_dim;
  const size_t e = 2;  // element bytes
  mel_ = DeviceBuffer(w * enc.num_mel_bins * mel * sizeof(float));
  columns1_ = DeviceBuffer(w * mel * 3 * enc.num_mel_bins * e);
  conv1_ = DeviceBuffer(w * mel * h * e);
  columns2_ = DeviceBuffer(w * frames_ * 3 * h * e);
  hidden_ = DeviceBuffer(w * frames_ * h * e);
  normed_ = DeviceBuffer(w * frames_ * h * e);
  qkv_ = DeviceBuffer(w * frames_ * qkv * e);
  attn_ = DeviceBuffer(w * frames_ * int64_t{enc.num_heads} * enc.head_dim * e);
  mlp_ = DeviceBuffer(w * frames_ * enc.intermediate_size * e);
  const int64_t rows = w * rows_per_window();
  projector_hidden_ = DeviceBuffer(rows * model.config.projector.hidden_size * e);
  projected_ = DeviceBuffer(rows * model.config.projector.output_size * e);
}

void EncoderRunner::fc_then_gelu(const void* x, int64_t rows, int64_t in, const void* w,
                                 int64_t out, const void* bias, void* y, unsigned stages) {
  if (stages & kEncoderGelu)
    gemm_gelu(gemm_, gelu_, x, rows, in, w, out, bias, y, stream_);
  else  // a benchmark timing the encoder without its GELUs
    gemm_.run(x, rows, in, w, out, bias, y, false, stream_);
}

void EncoderRunner::run(int windows, unsigned stages) {
  run_layers(windows, stages, model_.encoder_layers.size());
}

void EncoderRunner::run_layers(int windows, unsigned stages, size_t layers) {
  GLMASR_CHECK(windows >= 1 && windows <= max_windows_, "encoder: expected 1..", max_windows_,
               " windows, got ", windows);
  const EncoderConfig& enc = model_.config.encoder;
  const DType dtype = model_.dtype;
  const int64_t rows = int64_t{windows} * frames_, h = enc.hidden_size;
  const int heads = enc.num_heads, kv_heads = enc.num_kv_heads, hd = enc.head_dim;
  const int64_t width = int64_t{heads + 2 * kv_heads} * hd;

  const auto has = [stages](EncoderStage stage) { return (stages & stage) != 0; };
  if (has(kEncoderStem))
    conv_stem(gemm_, gelu_,
              {model_.conv1_weight, model_.conv1_bias, model_.conv2_weight, model_.conv2_bias},
              mel_input(), windows, enc.num_mel_bins, 2 * frames_, enc.hidden_size, columns1_.get(),
              conv1_.get(), columns2_.get(), hidden_.get(), stream_);

  auto* qkv = qkv_.as<std::byte>();
  for (size_t l = 0; l < std::min(layers, model_.encoder_layers.size()); ++l) {
    const DeviceEncoderLayer& layer = model_.encoder_layers[l];
    if (has(kEncoderNorms))
      layer_norm(dtype, hidden_.get(), rows, h, layer.attn_norm_weight, layer.attn_norm_bias,
                 enc.layer_norm_eps, normed_.get(), stream_);
    if (has(kEncoderQkv))
      gemm_.run(normed_.get(), rows, h, layer.qkv_weight, width, layer.qkv_bias, qkv, false,
                stream_);
    RopeQkvParams rope = rope_qkv_params(dtype, qkv, rows, heads, kv_heads, hd, rope_);
    rope.position_period = frames_;  // positions restart in every window
    if (has(kEncoderRope)) rope_qkv(rope, stream_);

    FlashAttentionParams attention{};
    attention.dtype = dtype;
    const int64_t batch_stride = frames_ * width;
    attention.q = {qkv, batch_stride, width, hd};
    attention.k = {qkv + int64_t{heads} * hd * 2, batch_stride, width, hd};
    attention.v = {qkv + int64_t{heads + kv_heads} * hd * 2, batch_stride, width, hd};
    attention.out = {attn_.get(), int64_t{frames_} * heads * hd, int64_t{heads} * hd, hd};
    attention.batch = windows;
    attention.q_len = attention.kv_len = frames_;
    attention.heads = heads;
    attention.kv_heads = kv_heads;
    attention.head_dim = hd;
    attention.scale = 1.0f / std::sqrt(static_cast<float>(hd));
    attention.causal = false;
    if (has(kEncoderAttention)) flash_attention(attention, stream_);

    if (has(kEncoderOut))
      gemm_.run(attn_.get(), rows, int64_t{heads} * hd, layer.o_weight, h, layer.o_bias,
                hidden_.get(), true, stream_);
    if (has(kEncoderNorms))
      layer_norm(dtype, hidden_.get(), rows, h, layer.mlp_norm_weight, layer.mlp_norm_bias,
                 enc.layer_norm_eps, normed_.get(), stream_);
    if (has(kEncoderFc1))
      fc_then_gelu(normed_.get(), rows, h, layer.fc1_weight, enc.intermediate_size, layer.fc1_bias,
                   mlp_.get(), stages);
    if (has(kEncoderFc2))
      gemm_.run(mlp_.get(), rows, enc.intermediate_size, layer.fc2_weight, h, layer.fc2_bias,
                hidden_.get(), true, stream_);
  }
  if (has(kEncoderNorms))
    layer_norm(dtype, hidden_.get(), rows, h, model_.encoder_norm_weight, model_.encoder_norm_bias,
               enc.layer_norm_eps, normed_.get(), stream_);

  // Projector: [windows * frames, h] viewed as [windows * frames / merge, merge * h].
  const ProjectorConfig& proj = model_.config.projector;
  const int64_t merged_rows = int64_t{windows} * rows_per_window();
  if (has(kEncoderProjector)) {
    fc_then_gelu(normed_.get(), merged_rows, proj.input_size, model_.projector1_weight,
                 proj.hidden_size, model_.projector1_bias, projector_hidden_.get(), stages);
    gemm_.run(projector_hidden_.get(), merged_rows, proj.hidden_size, model_.projector2_weight,
              proj.output_size, model_.projector2_bias, projected_.get(), false, stream_);
  }
}

}  // namespace glmasr::cuda
