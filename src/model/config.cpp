#include "model/config.h"

#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "io/json_file.h"

namespace glmasr {

namespace {

using nlohmann::json;

// Reads an integer field; `fallback` < 0 means the field is required.
int int_field(const json& section, const char* name, const std::string& where, int fallback = -1) {
  if (!section.contains(name) || section[name].is_null()) {
    GLMASR_CHECK(fallback >= 0, where, ": missing required field '", name, "'");
    return fallback;
  }
  GLMASR_CHECK(section[name].is_number_integer(), where, ": field '", name,
               "' must be an integer, got ", section[name].dump());
  const int value = section[name].get<int>();
  GLMASR_CHECK(value > 0, where, ": field '", name, "' must be positive, got ", value);
  return value;
}

float float_field(const json& section, const char* name, float fallback) {
  if (!section.contains(name) || !section[name].is_number()) return fallback;
  return section[name].get<float>();
}

// rope_parameters (transformers 5) or the older top-level rope_theta / partial_rotary_factor.
void read_rope(const json& section, const std::string& where, float* theta, float* partial) {
  json rope = section.contains("rope_parameters") && section["rope_parameters"].is_object()
                  ? section["rope_parameters"]
                  : json::object();
  if (section.contains("rope_scaling") && section["rope_scaling"].is_object())
    rope = section["rope_scaling"];
  const std::string type = rope.value("rope_type", rope.value("type", std::string("default")));
  GLMASR_CHECK(type == "default", where, ": unsupported rope_type '", type,
               "' (glmasr implements 'default')");
  *theta = float_field(rope, "rope_theta", float_field(section, "rope_theta", 10000.0f));
  if (partial)
    *partial = float_field(rope, "partial_rotary_factor",
                           float_field(section, "partial_rotary_factor", *partial));
}

void require_activation(const json& section, const char* name, const std::string& expected,
                        const std::string& where) {
  const std::string value = section.value(name, expected);
  GLMASR_CHECK(value == expected, where, ": ", name, " '", value, "' is not supported (expected '",
               expected, "')");
}

std::vector<int> eos_ids(const json& value) {
  std::vector<int> ids;
  if (value.is_number_integer()) ids.push_back(value.get<int>());
  if (value.is_array())
    for (const auto& id : value)
      if (id.is_number_integer()) ids.push_back(id.get<int>());
  return ids;
}

}  // namespace

ModelConfig load_model_config(const std::string& config_path,
                              const std::string& generation_config_path) {
  const json root = read_json_file(config_path);
  GLMASR_CHECK(root.is_object(), config_path, ": expected a JSON object");
  const std::string model_type = root.value("model_type", std::string());
  GLMASR_CHECK(model_type == "glmasr", config_path, ": model_type '", model_type,
               "' is not GLM-ASR (expected 'glmasr')");
  GLMASR_CHECK(root.contains("audio_config") && root["audio_config"].is_object(), config_path,
               ": missing audio_config");
  GLMASR_CHECK(root.contains("text_config") && root["text_config"].is_object(), config_path,
               ": missing text_config");
  ModelConfig config;
  config.source = config_path;

  const json& audio = root["audio_config"];
  const std::string audio_where = config_path + " audio_config";
  EncoderConfig& enc = config.encoder;
  enc.num_mel_bins = int_field(audio, "num_mel_bins", audio_where, 128);
  enc.hidden_size = int_field(audio, "hidden_size", audio_where);
  enc.intermediate_size = int_field(audio, "intermediate_size", audio_where);
  enc.num_layers = int_field(audio, "num_hidden_layers", audio_where);
  enc.num_heads = int_field(audio, "num_attention_heads", audio_where);
  enc.num_kv_heads = int_field(audio, "num_key_value_heads", audio_where, enc.num_heads);
  GLMASR_CHECK(enc.hidden_size % enc.num_heads == 0, audio_where, ": hidden_size ",
               enc.hidden_size, " is not a multiple of num_attention_heads ", enc.num_heads);
  enc.head_dim = int_field(audio, "head_dim", audio_where, enc.hidden_size / enc.num_heads);
  float partial = 0.5f;  // GlmAsrEncoderConfig's default
  read_rope(audio, audio_where, &enc.rope_theta, &partial);
  enc.rotary_dim = static_cast<int>(enc.head_dim * partial);
  GLMASR_CHECK(enc.rotary_dim % 2 == 0 && enc.rotary_dim > 0 && enc.rotary_dim <= enc.head_dim,
               audio_where, ": partial_rotary_factor ", partial, " gives ", enc.rotary_dim,
               " rotary dims of ", enc.head_dim, " (must be even and positive)");
  GLMASR_CHECK(enc.num_heads % enc.num_kv_heads == 0, audio_where, ": num_attention_heads ",
               enc.num_heads, " is not a multiple of num_key_value_heads ", enc.num_kv_heads);
  require_activation(audio, "hidden_act", "gelu", audio_where);
  GLMASR_CHECK(enc.intermediate_size % enc.hidden_size == 0, audio_where, ": intermediate_size ",
               enc.intermediate_size, " must be a multiple of hidden_size ", enc.hidden_size,
               " (the projector merges whole frames)");
  enc.merge_factor = enc.intermediate_size / enc.hidden_size;
  GLMASR_CHECK(enc.frames_per_window % enc.merge_factor == 0, audio_where, ": ",
               enc.frames_per_window, " frames per window do not split into groups of ",
               enc.merge_factor);

  const json& text = root["text_config"];
  const std::string text_where = config_path + " text_config";
  DecoderConfig& dec = config.decoder;
  dec.vocab_size = int_field(text, "vocab_size", text_where);
  dec.hidden_size = int_field(text, "hidden_size", text_where);
  dec.intermediate_size = int_field(text, "intermediate_size", text_where);
  dec.num_layers = int_field(text, "num_hidden_layers", text_where);
  dec.num_heads = int_field(text, "num_attention_heads", text_where);
  dec.num_kv_heads = int_field(text, "num_key_value_heads", text_where, dec.num_heads);
  GLMASR_CHECK(text.contains("head_dim") || dec.hidden_size % dec.num_heads == 0, text_where,
               ": hidden_size ", dec.hidden_size, " is not a multiple of num_attention_heads");
  dec.head_dim = int_field(text, "head_dim", text_where, dec.hidden_size / dec.num_heads);
  GLMASR_CHECK(dec.head_dim % 2 == 0, text_where, ": head_dim ", dec.head_dim, " must be even");
  GLMASR_CHECK(dec.num_heads % dec.num_kv_heads == 0, text_where, ": num_attention_heads ",
               dec.num_heads, " is not a multiple of num_key_value_heads ", dec.num_kv_heads);
  dec.max_positions = int_field(text, "max_position_embeddings", text_where, 8192);
  dec.rms_norm_eps = float_field(text, "rms_norm_eps", 1e-5f);
  float full = 1.0f;
  read_rope(text, text_where, &dec.rope_theta, &full);
  GLMASR_CHECK(full == 1.0f, text_where, ": partial rotary in the decoder is not supported");
  require_activation(text, "hidden_act", "silu", text_where);
  GLMASR_CHECK(!text.value("attention_bias", false) && !text.value("mlp_bias", false), text_where,
               ": attention_bias/mlp_bias are not supported (GLM-ASR's decoder has no biases)");

  config.projector = {enc.intermediate_size, 2 * dec.hidden_size, dec.hidden_size};
  require_activation(root, "projector_hidden_act", "gelu", config_path);
  config.audio_token_id = int_field(root, "audio_token_id", config_path, 59260);
  GLMASR_CHECK(config.audio_token_id < dec.vocab_size, config_path, ": audio_token_id ",
               config.audio_token_id, " is outside the vocabulary (", dec.vocab_size, ")");

  const std::string dtype = root.value("dtype", root.value("torch_dtype", std::string()));
  if (!dtype.empty()) {
    config.has_weight_dtype = true;
    if (dtype == "bfloat16")
      config.weight_dtype = DType::kBF16;
    else if (dtype == "float16")
      config.weight_dtype = DType::kF16;
    else if (dtype == "float32")
      config.weight_dtype = DType::kF32;
    else
      fail(config_path, ": unsupported dtype '", dtype, "'");
  }

  config.eos_token_ids = eos_ids(text.value("eos_token_id", json()));
  if (!generation_config_path.empty() && std::filesystem::exists(generation_config_path)) {
    const json generation = read_json_file(generation_config_path);
    if (generation.contains("eos_token_id"))
      config.eos_token_ids = eos_ids(generation["eos_token_id"]);
  }
  GLMASR_CHECK(!config.eos_token_ids.empty(), config_path,
               ": no eos_token_id in text_config or generation_config.json");
  for (int id : config.eos_token_ids)
    GLMASR_CHECK(id >= 0 && id < dec.vocab_size, config_path, ": eos id ", id,
                 " outside the vocabulary");
  return config;
}

}  // namespace glmasr
