// GLM-ASR configuration read from a model folder's config.json (+ generation_config.json).
// Every dimension comes from the files; nothing here hard-codes the released model's sizes.
#pragma once

#include <string>
#include <vector>

#include "core/dtype.h"

namespace glmasr {

struct EncoderConfig {
  int num_mel_bins = 0;       // conv1 input channels (128)
  int hidden_size = 0;        // 1280
  int intermediate_size = 0;  // MLP width; also the projector input width (merge * hidden)
  int num_layers = 0;         // 32
  int num_heads = 0;          // 20
  int num_kv_heads = 0;       // defaults to num_heads
  int head_dim = 0;           // hidden_size / num_heads unless given
  int rotary_dim = 0;         // head_dim * partial_rotary_factor (rotated half-split)
  float rope_theta = 10000.0f;
  float layer_norm_eps = 1e-5f;  // nn.LayerNorm default; not a config field
  int frames_per_window = 1500;  // conv2 output length of a 3000-frame window
  int merge_factor = 0;          // frames concatenated per audio token: intermediate / hidden
};

struct ProjectorConfig {
  int input_size = 0;   // encoder intermediate_size (merge_factor * encoder hidden)
  int hidden_size = 0;  // 2 * text hidden
  int output_size = 0;  // text hidden
};

struct DecoderConfig {
  int vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_layers = 0;
  int num_heads = 0;
  int num_kv_heads = 0;
  int head_dim = 0;  // need not equal hidden_size / num_heads
  int max_positions = 0;
  float rms_norm_eps = 1e-5f;
  float rope_theta = 10000.0f;
};

struct ModelConfig {
  EncoderConfig encoder;
  ProjectorConfig projector;
  DecoderConfig decoder;
  int audio_token_id = 0;
  std::vector<int> eos_token_ids;  // generation_config.json, else text_config
  bool has_weight_dtype = false;   // config.json names the checkpoint dtype
  DType weight_dtype = DType::kBF16;
  std::string source;  // the config.json path, for messages
};

// Parses `config_path` (and `generation_config_path` when non-empty and present). Throws
// glmasr::Error naming the file and the field for missing fields, unsupported activations or
// RoPE types, and inconsistent sizes.
ModelConfig load_model_config(const std::string& config_path,
                              const std::string& generation_config_path = "");

// The folder layout: config.json, generation_config.json, tokenizer.json, weights.
struct ModelFolder {
  std::string dir;
  std::string config_path() const { return dir + "/config.json"; }
  std::string generation_config_path() const { return dir + "/generation_config.json"; }
  std::string tokenizer_path() const { return dir + "/tokenizer.json"; }
};

}  // namespace glmasr
