#include "cpu/cpu_model.h"

#include <algorithm>
#include <cmath>

#include "audio/features.h"
#include "core/error.h"
#include "cpu/ops.h"
#include "model/audio_tokens.h"
#include "model/checkpoint.h"
#include "model/fp8_quantize.h"

namespace glmasr::cpu {

namespace {

FloatTensor up(const TensorView& view) {
  return to_float(view, "weight");
}

}  // namespace

CpuModel::CpuModel(const ModelConfig& config, const ModelWeights& w, WeightFormat format)
    : config_(config) {
  // Both walks visit the same tensors in the same order: the i-th of one is the i-th of the other.
  std::vector<const TensorView*> views;
  for_each_tensor(w, config, [&](const std::string&, const Shape&, const TensorView& view) {
    views.push_back(&view);
  });
  w_.encoder_layers.resize(w.encoder_layers.size());
  w_.decoder_layers.resize(w.decoder_layers.size());
  size_t next = 0;
  for_each_tensor(w_, config, [&](const std::string&, const Shape&, FloatTensor& tensor) {
    tensor = up(*views.at(next++));
  });
  if (format == WeightFormat::kFP8) {
    // lm_head is its own copy even when the checkpoint ties it to the embedding, which stays
    // exact: only matrix products read fp8 weights.
    auto round_trip = [](FloatTensor& m) { fp8_round_trip_rows(m.data(), m.dim(0), m.dim(1)); };
    for (DecoderLayer& l : w_.decoder_layers)
      for (FloatTensor* m : {&l.q_weight, &l.k_weight, &l.v_weight, &l.o_weight, &l.gate_weight,
                             &l.up_weight, &l.down_weight})
        round_trip(*m);
    round_trip(w_.lm_head);
  }
}

std::unique_ptr<CpuModel> CpuModel::load(const std::string& model_dir, WeightFormat format) {
  const ModelFolder folder{model_dir};
  const ModelConfig config =
      load_model_config(folder.config_path(), folder.generation_config_path());
  const Checkpoint checkpoint(model_dir);
  return std::make_unique<CpuModel>(config, load_weights(checkpoint, config), format);
}

FloatTensor CpuModel::conv_stem(const float* mel) const {
  const EncoderConfig& c = config_.encoder;
  const int64_t frames = 2 * int64_t{c.frames_per_window};
  FloatTensor h1({c.hidden_size, frames});
  conv1d_k3(mel, c.num_mel_bins, frames, w_.conv1_weight.data(), w_.conv1_bias.data(),
            c.hidden_size, 1, h1.data());
  gelu(h1.data(), h1.numel());
  FloatTensor h2({c.hidden_size, c.frames_per_window});
  conv1d_k3(h1.data(), c.hidden_size, frames, w_.conv2_weight.data(), w_.conv2_bias.data(),
            c.hidden_size, 2, h2.data());
  gelu(h2.data(), h2.numel());
  FloatTensor out({c.frames_per_window, c.hidden_size});  // transpose to [T, H]
  for (int64_t ch = 0; ch < c.hidden_size; ++ch)
    for (int64_t t = 0; t < c.frames_per_window; ++t)
      out[t * c.hidden_size + ch] = h2[ch * c.frames_per_window + t];
  return out;
}

void CpuModel::encoder_layer(int index, FloatTensor& hidden) const {
  const EncoderConfig& c = config_.encoder;
  const EncoderLayer& l = w_.encoder_layers.at(index);
  const int64_t T = hidden.dim(0), H = c.hidden_size;
  const int64_t q_width = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.num_kv_heads} * c.head_dim;

  FloatTensor a({T, H});
  layer_norm(hidden.data(), T, H, l.attn_norm_weight.data(), l.attn_norm_bias.data(),
             c.layer_norm_eps, a.data());
  FloatTensor q({T, q_width}), k({T, kv_width}), v({T, kv_width});
  linear(a.data(), T, H, l.q_weight.data(), l.q_bias.data(), q_width, q.data());
  linear(a.data(), T, H, l.k_weight.data(), nullptr, kv_width, k.data());
  linear(a.data(), T, H, l.v_weight.data(), l.v_bias.data(), kv_width, v.data());
  // Positions restart at 0 in every window.
  rope(q.data(), T, c.num_heads, c.head_dim, c.rotary_dim, c.rope_theta, 0);
  rope(k.data(), T, c.num_kv_heads, c.head_dim, c.rotary_dim, c.rope_theta, 0);
  FloatTensor attended({T, q_width});
  attention(q.data(), T, c.num_heads, k.data(), v.data(), T, c.num_kv_heads, c.head_dim,
            1.0f / std::sqrt(static_cast<float>(c.head_dim)), /*causal=*/false, attended.data());
  FloatTensor o({T, H});
  linear(attended.data(), T, q_width, l.o_weight.data(), l.o_bias.data(), H, o.data());
  add_inplace(hidden.data(), o.data(), hidden.numel());

  FloatTensor m({T, H});
  layer_norm(hidden.data(), T, H, l.mlp_norm_weight.data(), l.mlp_norm_bias.data(),
             c.layer_norm_eps, m.data());
  FloatTensor f({T, c.intermediate_size});
  linear(m.data(), T, H, l.fc1_weight.data(), l.fc1_bias.data(), c.intermediate_size, f.data());
  gelu(f.data(), f.numel());
  linear(f.data(), T, c.intermediate_size, l.fc2_weight.data(), l.fc2_bias.data(), H, o.data());
  add_inplace(hidden.data(), o.data(), hidden.numel());
}

FloatTensor CpuModel::encode_window(const float* mel, FloatTensor* layer0) const {
  FloatTensor hidden = conv_stem(mel);
  for (int i = 0; i < config_.encoder.num_layers; ++i) {
    encoder_layer(i, hidden);
    if (i == 0 && layer0) *layer0 = hidden;
  }
  FloatTensor out(hidden.shape());
  layer_norm(hidden.data(), hidden.dim(0), hidden.dim(1), w_.encoder_norm_weight.data(),
             w_.encoder_norm_bias.data(), config_.encoder.layer_norm_eps, out.data());
  return out;
}

FloatTensor CpuModel::project(const FloatTensor& encoded) const {
  const ProjectorConfig& p = config_.projector;
  // Row-major [T, H] read as [T / merge, merge * H]: consecutive frames concatenated.
  const FloatTensor merged = encoded.reshaped({encoded.numel() / p.input_size, p.input_size});
  const int64_t rows = merged.dim(0);
  FloatTensor hidden({rows, p.hidden_size});
  linear(merged.data(), rows, p.input_size, w_.projector1_weight.data(), w_.projector1_bias.data(),
         p.hidden_size, hidden.data());
  gelu(hidden.data(), hidden.numel());
  FloatTensor out({rows, p.output_size});
  linear(hidden.data(), rows, p.hidden_size, w_.projector2_weight.data(), w_.projector2_bias.data(),
         p.output_size, out.data());
  return out;
}

FloatTensor CpuModel::audio_embeddings(const MelWindows& mel,
                                       const std::vector<int64_t>& kept_rows) const {
  const int64_t D = config_.decoder.hidden_size;
  GLMASR_CHECK(static_cast<int64_t>(kept_rows.size()) == mel.windows(),
               "audio embeddings: expected the kept rows of ", mel.windows(), " windows, got ",
               kept_rows.size());
  const int64_t window_size = mel.features.numel() / std::max<int64_t>(1, mel.windows());
  std::vector<float> rows;
  for (int64_t w = 0; w < mel.windows(); ++w) {
    const FloatTensor projected = project(encode_window(mel.features.data() + w * window_size));
    const int64_t keep = std::clamp<int64_t>(kept_rows[w], 0, projected.dim(0));
    rows.insert(rows.end(), projected.data(), projected.data() + keep * D);
  }
  const int64_t count = static_cast<int64_t>(rows.size()) / D;
  return FloatTensor({count, D}, std::move(rows));
}

FloatTensor CpuModel::embed(const std::vector<int32_t>& ids, const FloatTensor& audio) const {
  const DecoderConfig& c = config_.decoder;
  const int64_t D = c.hidden_size;
  int64_t placeholders = 0;
  for (int32_t id : ids) placeholders += id == config_.audio_token_id;
  GLMASR_CHECK(placeholders == (audio.numel() ? audio.dim(0) : 0), "prompt has ", placeholders,
               " audio placeholders but the audio gives ", audio.numel() ? audio.dim(0) : 0,
               " embeddings");
  FloatTensor out({static_cast<int64_t>(ids.size()), D});
  int64_t next_audio = 0;
  for (size_t t = 0; t < ids.size(); ++t) {
    GLMASR_CHECK(ids[t] >= 0 && ids[t] < c.vocab_size, "token id ", ids[t],
                 " outside the vocabulary (", c.vocab_size, ")");
    const float* src = ids[t] == config_.audio_token_id ? audio.data() + D * next_audio++
                                                        : w_.embed_tokens.data() + D * ids[t];
    std::copy(src, src + D, out.data() + D * t);
  }
  return out;
}

KvCache CpuModel::new_cache(int64_t capacity) const {
  const DecoderConfig& c = config_.decoder;
  KvCache cache;
  cache.capacity = capacity;
  for (int i = 0; i < c.num_layers; ++i) {
    cache.keys.emplace_back(Shape{capacity, c.num_kv_heads, c.head_dim});
    cache.values.emplace_back(Shape{capacity, c.num_kv_heads, c.head_dim});
  }
  return cache;
}

FloatTensor CpuModel::decode(const FloatTensor& x, KvCache& cache, FloatTensor* layer0) const {
  const DecoderConfig& c = config_.decoder;
  const int64_t T = x.dim(0), D = c.hidden_size, F = c.intermediate_size;
  const int64_t q_width = int64_t{c.num_heads} * c.head_dim;
  const int64_t kv_width = int64_t{c.num_kv_heads} * c.head_dim;
  const int64_t start = cache.length;
  GLMASR_CHECK(start + T <= cache.capacity, "sequence of ", start + T,
               " positions exceeds the KV cache capacity ", cache.capacity);
  FloatTensor hidden = x;
  FloatTensor a({T, D}), q({T, q_width}), attended({T, q_width}), o({T, D});
  FloatTensor gate({T, F}), upv({T, F}), act({T, F});
  for (int i = 0; i < c.num_layers; ++i) {
    const DecoderLayer& l = w_.decoder_layers[i];
    rms_norm(hidden.data(), T, D, l.attn_norm_weight.data(), c.rms_norm_eps, a.data());
    linear(a.data(), T, D, l.q_weight.data(), nullptr, q_width, q.data());
    float* k = cache.keys[i].data() + start * kv_width;
    float* v = cache.values[i].data() + start * kv_width;
    linear(a.data(), T, D, l.k_weight.data(), nullptr, kv_width, k);
    linear(a.data(), T, D, l.v_weight.data(), nullptr, kv_width, v);
    rope(q.data(), T, c.num_heads, c.head_dim, c.head_dim, c.rope_theta, start);
    rope(k, T, c.num_kv_heads, c.head_dim, c.head_dim, c.rope_theta, start);
    attention(q.data(), T, c.num_heads, cache.keys[i].data(), cache.values[i].data(), start + T,
              c.num_kv_heads, c.head_dim, 1.0f / std::sqrt(static_cast<float>(c.head_dim)),
              /*causal=*/true, attended.data());
    linear(attended.data(), T, q_width, l.o_weight.data(), nullptr, D, o.data());
    add_inplace(hidden.data(), o.data(), hidden.numel());
    rms_norm(hidden.data(), T, D, l.mlp_norm_weight.data(), c.rms_norm_eps, a.data());
    linear(a.data(), T, D, l.gate_weight.data(), nullptr, F, gate.data());
    linear(a.data(), T, D, l.up_weight.data(), nullptr, F, upv.data());
    silu_mul(gate.data(), upv.data(), act.numel(), act.data());
    linear(act.data(), T, F, l.down_weight.data(), nullptr, D, o.data());
    add_inplace(hidden.data(), o.data(), hidden.numel());
    if (i == 0 && layer0) *layer0 = hidden;
  }
  cache.length = start + T;
  FloatTensor last({1, D});
  rms_norm(hidden.data() + (T - 1) * D, 1, D, w_.final_norm_weight.data(), c.rms_norm_eps,
           last.data());
  FloatTensor logits({c.vocab_size});
  linear(last.data(), 1, D, w_.lm_head.data(), nullptr, c.vocab_size, logits.data());
  return logits;
}

std::vector<std::pair<std::string, FloatTensor*>> CpuModel::named_parameters() {
  std::vector<std::pair<std::string, FloatTensor*>> out;
  for_each_tensor(w_, config_, [&](const std::string& name, const Shape&, FloatTensor& tensor) {
    out.emplace_back(name, &tensor);
  });
  return out;
}

}  // namespace glmasr::cpu
