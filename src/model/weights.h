// Every tensor GLM-ASR needs, as views into the checkpoint. for_each_tensor() is the ONE place
// that spells checkpoint tensor names and their shapes; load_weights() checks each shape and
// dtype against the config.
// Shapes use PyTorch conventions: Linear [out, in] (y = x W^T + b), Conv1d [out, in, kernel].
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace glmasr {

// The tensors of the model, over a tensor type: TensorView (the checkpoint's bytes, here) or
// FloatTensor (the CPU reference's upcast copies). for_each_tensor below names them.
template <typename T>
struct EncoderLayerTensors {
  T attn_norm_weight, attn_norm_bias;  // input_layernorm [H]
  T q_weight, q_bias;                  // self_attn.q_proj [heads*hd, H], [heads*hd]
  T k_weight;                          // self_attn.k_proj [kv*hd, H] (no bias)
  T v_weight, v_bias;                  // self_attn.v_proj [kv*hd, H], [kv*hd]
  T o_weight, o_bias;                  // self_attn.o_proj [H, heads*hd], [H]
  T mlp_norm_weight, mlp_norm_bias;    // post_attention_layernorm [H]
  T fc1_weight, fc1_bias;              // mlp.fc1 [I, H], [I]
  T fc2_weight, fc2_bias;              // mlp.fc2 [H, I], [H]
};

template <typename T>
struct DecoderLayerTensors {
  T attn_norm_weight;  // input_layernorm [D]
  T q_weight;          // self_attn.q_proj [heads*hd, D]
  T k_weight;          // self_attn.k_proj [kv*hd, D]
  T v_weight;          // self_attn.v_proj [kv*hd, D]
  T o_weight;          // self_attn.o_proj [D, heads*hd]
  T mlp_norm_weight;   // post_attention_layernorm [D]
  T gate_weight;       // mlp.gate_proj [F, D]
  T up_weight;         // mlp.up_proj [F, D]
  T down_weight;       // mlp.down_proj [D, F]
};

template <typename T>
struct ModelTensors {
  // Audio encoder (audio_tower.*)
  T conv1_weight, conv1_bias;  // [H, mel, 3], [H]
  T conv2_weight, conv2_bias;  // [H, H, 3], [H]
  std::vector<EncoderLayerTensors<T>> encoder_layers;
  T encoder_norm_weight, encoder_norm_bias;  // norm [H]
  // Projector (multi_modal_projector.*)
  T projector1_weight, projector1_bias;  // linear_1 [2D, merge*H], [2D]
  T projector2_weight, projector2_bias;  // linear_2 [D, 2D], [D]
  // Text decoder (language_model.*)
  T embed_tokens;  // model.embed_tokens [V, D]
  std::vector<DecoderLayerTensors<T>> decoder_layers;
  T final_norm_weight;  // model.norm [D]
  T lm_head;            // lm_head [V, D]; the embedding when the file has none
};

using EncoderLayerWeights = EncoderLayerTensors<TensorView>;
using DecoderLayerWeights = DecoderLayerTensors<TensorView>;

struct ModelWeights : ModelTensors<TensorView> {
  bool lm_head_is_embedding = false;
  // Tensors in the file that the model does not use (e.g. a legacy embed_positions).
  std::vector<std::string> unused;
};

// The hub name of the output projection, which a checkpoint may leave out (tied embeddings).
inline constexpr const char* kLmHeadName = "language_model.lm_head.weight";

// THE place that spells checkpoint tensor names: calls fn(hub_name, expected_shape, tensor)
// for every tensor of `m` (a ModelTensors<T>, const or not), whose layer vectors must already
// hold the config's layer counts. Always in the same order.
template <typename Tensors, typename Fn>
void for_each_tensor(Tensors& m, const ModelConfig& config, Fn&& fn) {
  const EncoderConfig& enc = config.encoder;
  const int64_t H = enc.hidden_size, I = enc.intermediate_size;
  const int64_t q_out = int64_t{enc.num_heads} * enc.head_dim;
  const int64_t kv_out = int64_t{enc.num_kv_heads} * enc.head_dim;
  fn("audio_tower.conv1.weight", Shape{H, enc.num_mel_bins, 3}, m.conv1_weight);
  fn("audio_tower.conv1.bias", Shape{H}, m.conv1_bias);
  fn("audio_tower.conv2.weight", Shape{H, H, 3}, m.conv2_weight);
  fn("audio_tower.conv2.bias", Shape{H}, m.conv2_bias);
  for (size_t i = 0; i < m.encoder_layers.size(); ++i) {
    const std::string p = "audio_tower.layers." + std::to_string(i) + ".";
    auto& l = m.encoder_layers[i];
    fn(p + "input_layernorm.weight", Shape{H}, l.attn_norm_weight);
    fn(p + "input_layernorm.bias", Shape{H}, l.attn_norm_bias);
    fn(p + "self_attn.q_proj.weight", Shape{q_out, H}, l.q_weight);
    fn(p + "self_attn.q_proj.bias", Shape{q_out}, l.q_bias);
    fn(p + "self_attn.k_proj.weight", Shape{kv_out, H}, l.k_weight);
    fn(p + "self_attn.v_proj.weight", Shape{kv_out, H}, l.v_weight);
    fn(p + "self_attn.v_proj.bias", Shape{kv_out}, l.v_bias);
    fn(p + "self_attn.o_proj.weight", Shape{H, q_out}, l.o_weight);
    fn(p + "self_attn.o_proj.bias", Shape{H}, l.o_bias);
    fn(p + "post_attention_layernorm.weight", Shape{H}, l.mlp_norm_weight);
    fn(p + "post_attention_layernorm.bias", Shape{H}, l.mlp_norm_bias);
    fn(p + "mlp.fc1.weight", Shape{I, H}, l.fc1_weight);
    fn(p + "mlp.fc1.bias", Shape{I}, l.fc1_bias);
    fn(p + "mlp.fc2.weight", Shape{H, I}, l.fc2_weight);
    fn(p + "mlp.fc2.bias", Shape{H}, l.fc2_bias);
  }
  fn("audio_tower.norm.weight", Shape{H}, m.encoder_norm_weight);
  fn("audio_tower.norm.bias", Shape{H}, m.encoder_norm_bias);

  const ProjectorConfig& proj = config.projector;
  fn("multi_modal_projector.linear_1.weight", Shape{proj.hidden_size, proj.input_size},
     m.projector1_weight);
  fn("multi_modal_projector.linear_1.bias", Shape{proj.hidden_size}, m.projector1_bias);
  fn("multi_modal_projector.linear_2.weight", Shape{proj.output_size, proj.hidden_size},
     m.projector2_weight);
  fn("multi_modal_projector.linear_2.bias", Shape{proj.output_size}, m.projector2_bias);

  const DecoderConfig& dec = config.decoder;
  const int64_t D = dec.hidden_size, F = dec.intermediate_size, V = dec.vocab_size;
  const int64_t dq = int64_t{dec.num_heads} * dec.head_dim;
  const int64_t dkv = int64_t{dec.num_kv_heads} * dec.head_dim;
  fn("language_model.model.embed_tokens.weight", Shape{V, D}, m.embed_tokens);
  for (size_t i = 0; i < m.decoder_layers.size(); ++i) {
    const std::string p = "language_model.model.layers." + std::to_string(i) + ".";
    auto& l = m.decoder_layers[i];
    fn(p + "input_layernorm.weight", Shape{D}, l.attn_norm_weight);
    fn(p + "self_attn.q_proj.weight", Shape{dq, D}, l.q_weight);
    fn(p + "self_attn.k_proj.weight", Shape{dkv, D}, l.k_weight);
    fn(p + "self_attn.v_proj.weight", Shape{dkv, D}, l.v_weight);
    fn(p + "self_attn.o_proj.weight", Shape{D, dq}, l.o_weight);
    fn(p + "post_attention_layernorm.weight", Shape{D}, l.mlp_norm_weight);
    fn(p + "mlp.gate_proj.weight", Shape{F, D}, l.gate_weight);
    fn(p + "mlp.up_proj.weight", Shape{F, D}, l.up_weight);
    fn(p + "mlp.down_proj.weight", Shape{D, F}, l.down_weight);
  }
  fn("language_model.model.norm.weight", Shape{D}, m.final_norm_weight);
  fn(kLmHeadName, Shape{V, D}, m.lm_head);
}

// Throws glmasr::Error naming the tensor (and the folder) for a missing tensor, a wrong shape or
// a dtype that is neither the config's dtype nor, when the config names none, a float type.
ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace glmasr
