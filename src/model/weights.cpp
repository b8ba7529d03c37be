#include "model/weights.h"

#include <set>

#include "core/error.h"

namespace glmasr {

namespace {

// Fetches tensors by hub name, checking shape and dtype and remembering what was used.
class WeightReader {
 public:
  WeightReader(const Checkpoint& checkpoint, const ModelConfig& config)
      : checkpoint_(checkpoint), config_(config) {}

  TensorView get(const std::string& name, const Shape& shape) {
    used_.insert(name);
    GLMASR_CHECK(checkpoint_.contains(name), checkpoint_.dir(), ": missing tensor '", name,
                 "' (expected shape ", shape_str(shape), " from ", config_.source, ")");
    const TensorView view = checkpoint_.get(name);
    GLMASR_CHECK(view.shape == shape, checkpoint_.file_of(name), ": tensor '", name, "' has shape ",
                 shape_str(view.shape), ", expected ", shape_str(shape), " from ", config_.source);
    const bool is_float =
        view.dtype == DType::kBF16 || view.dtype == DType::kF16 || view.dtype == DType::kF32;
    GLMASR_CHECK(is_float, checkpoint_.file_of(name), ": tensor '", name, "' has dtype ",
                 dtype_name(view.dtype), ", expected a float type (BF16, F16 or F32)");
    GLMASR_CHECK(!config_.has_weight_dtype || view.dtype == config_.weight_dtype,
                 checkpoint_.file_of(name), ": tensor '", name, "' has dtype ",
                 dtype_name(view.dtype), ", expected ", dtype_name(config_.weight_dtype),
                 " as config.json says");
    return view;
  }

  bool has(const std::string& name) const { return checkpoint_.contains(name); }

  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& name : checkpoint_.hub_names())
      if (!used_.count(name)) out.push_back(name);
    return out;
  }

 private:
  const Checkpoint& checkpoint_;
  const ModelConfig& config_;
  std::set<std::string> used_;
};

}  // namespace

ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& config) {
  WeightReader reader(checkpoint, config);
  ModelWeights w;
  const EncoderConfig& enc = config.encoder;
  const int64_t H = enc.hidden_size, I = enc.intermediate_size;
  const int64_t q_out = int64_t{enc.num_heads} * enc.head_dim;
  const int64_t kv_out = int64_t{enc.num_kv_heads} * enc.head_dim;

  w.conv1_weight = reader.get("audio_tower.conv1.weight", {H, enc.num_mel_bins, 3});
  w.conv1_bias = reader.get("audio_tower.conv1.bias", {H});
  w.conv2_weight = reader.get("audio_tower.conv2.weight", {H, H, 3});
  w.conv2_bias = reader.get("audio_tower.conv2.bias", {H});
  for (int i = 0; i < enc.num_layers; ++i) {
    const std::string p = "audio_tower.layers." + std::to_string(i) + ".";
    EncoderLayerWeights layer;
    layer.attn_norm_weight = reader.get(p + "input_layernorm.weight", {H});
    layer.attn_norm_bias = reader.get(p + "input_layernorm.bias", {H});
    layer.q_weight = reader.get(p + "self_attn.q_proj.weight", {q_out, H});
    layer.q_bias = reader.get(p + "self_attn.q_proj.bias", {q_out});
    layer.k_weight = reader.get(p + "self_attn.k_proj.weight", {kv_out, H});
    layer.v_weight = reader.get(p + "self_attn.v_proj.weight", {kv_out, H});
    layer.v_bias = reader.get(p + "self_attn.v_proj.bias", {kv_out});
    layer.o_weight = reader.get(p + "self_attn.o_proj.weight", {H, q_out});
    layer.o_bias = reader.get(p + "self_attn.o_proj.bias", {H});
    layer.mlp_norm_weight = reader.get(p + "post_attention_layernorm.weight", {H});
    layer.mlp_norm_bias = reader.get(p + "post_attention_layernorm.bias", {H});
    layer.fc1_weight = reader.get(p + "mlp.fc1.weight", {I, H});
    layer.fc1_bias = reader.get(p + "mlp.fc1.bias", {I});
    layer.fc2_weight = reader.get(p + "mlp.fc2.weight", {H, I});
    layer.fc2_bias = reader.get(p + "mlp.fc2.bias", {H});
    w.encoder_layers.push_back(layer);
  }
  w.encoder_norm_weight = reader.get("audio_tower.norm.weight", {H});
  w.encoder_norm_bias = reader.get("audio_tower.norm.bias", {H});

  const ProjectorConfig& proj = config.projector;
  w.projector1_weight =
      reader.get("multi_modal_projector.linear_1.weight", {proj.hidden_size, proj.input_size});
  w.projector1_bias = reader.get("multi_modal_projector.linear_1.bias", {proj.hidden_size});
  w.projector2_weight =
      reader.get("multi_modal_projector.linear_2.weight", {proj.output_size, proj.hidden_size});
  w.projector2_bias = reader.get("multi_modal_projector.linear_2.bias", {proj.output_size});

  const DecoderConfig& dec = config.decoder;
  const int64_t D = dec.hidden_size, F = dec.intermediate_size, V = dec.vocab_size;
  const int64_t dq = int64_t{dec.num_heads} * dec.head_dim;
  const int64_t dkv = int64_t{dec.num_kv_heads} * dec.head_dim;
  w.embed_tokens = reader.get("language_model.model.embed_tokens.weight", {V, D});
  for (int i = 0; i < dec.num_layers; ++i) {
    const std::string p = "language_model.model.layers." + std::to_string(i) + ".";
    DecoderLayerWeights layer;
    layer.attn_norm_weight = reader.get(p + "input_layernorm.weight", {D});
    layer.q_weight = reader.get(p + "self_attn.q_proj.weight", {dq, D});
    layer.k_weight = reader.get(p + "self_attn.k_proj.weight", {dkv, D});
    layer.v_weight = reader.get(p + "self_attn.v_proj.weight", {dkv, D});
    layer.o_weight = reader.get(p + "self_attn.o_proj.weight", {D, dq});
    layer.mlp_norm_weight = reader.get(p + "post_attention_layernorm.weight", {D});
    layer.gate_weight = reader.get(p + "mlp.gate_proj.weight", {F, D});
    layer.up_weight = reader.get(p + "mlp.up_proj.weight", {F, D});
    layer.down_weight = reader.get(p + "mlp.down_proj.weight", {D, F});
    w.decoder_layers.push_back(layer);
  }
  w.final_norm_weight = reader.get("language_model.model.norm.weight", {D});
  // The stored lm_head wins; only a file without one falls back to the tied embedding.
  if (reader.has("language_model.lm_head.weight")) {
    w.lm_head = reader.get("language_model.lm_head.weight", {V, D});
  } else {
    w.lm_head = w.embed_tokens;
    w.lm_head_is_embedding = true;
  }
  w.unused = reader.unused();
  return w;
}

}  // namespace glmasr
