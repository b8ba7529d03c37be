// Every tensor GLM-ASR needs, as views into the checkpoint. load_weights() is the ONE place that
// spells checkpoint tensor names and checks each shape and dtype against the config.
// Shapes use PyTorch conventions: Linear [out, in] (y = x W^T + b), Conv1d [out, in, kernel].
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"
#include "model/checkpoint.h"
#include "model/config.h"

namespace glmasr {

struct EncoderLayerWeights {
  TensorView attn_norm_weight, attn_norm_bias;  // input_layernorm [H]
  TensorView q_weight, q_bias;                  // self_attn.q_proj [heads*hd, H], [heads*hd]
  TensorView k_weight;                          // self_attn.k_proj [kv*hd, H] (no bias)
  TensorView v_weight, v_bias;                  // self_attn.v_proj [kv*hd, H], [kv*hd]
  TensorView o_weight, o_bias;                  // self_attn.o_proj [H, heads*hd], [H]
  TensorView mlp_norm_weight, mlp_norm_bias;    // post_attention_layernorm [H]
  TensorView fc1_weight, fc1_bias;              // mlp.fc1 [I, H], [I]
  TensorView fc2_weight, fc2_bias;              // mlp.fc2 [H, I], [H]
};

struct DecoderLayerWeights {
  TensorView attn_norm_weight;  // input_layernorm [D]
  TensorView q_weight;          // self_attn.q_proj [heads*hd, D]
  TensorView k_weight;          // self_attn.k_proj [kv*hd, D]
  TensorView v_weight;          // self_attn.v_proj [kv*hd, D]
  TensorView o_weight;          // self_attn.o_proj [D, heads*hd]
  TensorView mlp_norm_weight;   // post_attention_layernorm [D]
  TensorView gate_weight;       // mlp.gate_proj [F, D]
  TensorView up_weight;         // mlp.up_proj [F, D]
  TensorView down_weight;       // mlp.down_proj [D, F]
};

struct ModelWeights {
  // Audio encoder (audio_tower.*)
  TensorView conv1_weight, conv1_bias;  // [H, mel, 3], [H]
  TensorView conv2_weight, conv2_bias;  // [H, H, 3], [H]
  std::vector<EncoderLayerWeights> encoder_layers;
  TensorView encoder_norm_weight, encoder_norm_bias;  // norm [H]
  // Projector (multi_modal_projector.*)
  TensorView projector1_weight, projector1_bias;  // linear_1 [2D, merge*H], [2D]
  TensorView projector2_weight, projector2_bias;  // linear_2 [D, 2D], [D]
  // Text decoder (language_model.*)
  TensorView embed_tokens;  // model.embed_tokens [V, D]
  std::vector<DecoderLayerWeights> decoder_layers;
  TensorView final_norm_weight;  // model.norm [D]
  TensorView lm_head;            // lm_head [V, D]; the embedding when the file has none
  bool lm_head_is_embedding = false;
  // Tensors in the file that the model does not use (e.g. a legacy embed_positions).
  std::vector<std::string> unused;
};

// Throws glmasr::Error naming the tensor (and the folder) for a missing tensor, a wrong shape or
// a dtype that is neither the config's dtype nor, when the config names none, a float type.
ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& config);

}  // namespace glmasr
