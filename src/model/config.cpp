#include "model/config.h"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
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
  const json& value = section[name];
  GLMASR_CHECK(value.is_number_integer(), where, ": field '", name, "' must be an integer, got ",
               value.dump());
  // Unsigned JSON integers above INT64_MAX would wrap through get<int64_t>; reject them first.
  GLMASR_CHECK(!value.is_number_unsigned() ||
                   value.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int>::max()),
               where, ": field '", name, "' is too large, got ", value.dump());
  const int64_t wide = value.get<int64_t>();
  GLMASR_CHECK(wide > 0 && wide <= std::numeric_limits<int>::max(), where, ": field '", name,
               "' must be a positive integer, got ", wide);
  return static_cast<int>(wide);
}

// Reads a number; absent or null gives `fallback`, anything else that is not a number is an error
// (a quoted "1e-5" must not silently become the default).
float float_field(const json& section, const char* name, const std::string& where, float fallback) {
  if (!section.contains(name) || section[name].is_null()) return fallback;
  GLMASR_CHECK(section[name].is_number(), where, ": field '", name, "' must be a number, got ",
               section[name].dump());
  return section[name].get<float>();
}

std::string rope_type_of(const json& rope) {
  if (rope.contains("rope_type")) return rope["rope_type"].get<std::string>();
  if (rope.contains("type")) return rope["type"].get<std::string>();
  return "default";
}

// rope_parameters (transformers 5), the older rope_scaling, or top-level rope_theta /
// partial_rotary_factor. A config may carry both dicts; neither may ask for a scaled RoPE, and
// rope_parameters' theta wins over rope_scaling's, which wins over the top-level field.
void read_rope(const json& section, const std::string& where, float* theta, float* partial) {
  std::vector<json> dicts;  // highest priority first
  for (const char* key : {"rope_parameters", "rope_scaling"}) {
    if (!section.contains(key) || section[key].is_null()) continue;
    GLMASR_CHECK(section[key].is_object(), where, ": ", key, " must be an object, got ",
                 section[key].dump());
    const std::string type = rope_type_of(section[key]);
    GLMASR_CHECK(type == "default", where, ": unsupported rope_type '", type, "' in ", key,
                 " (glmasr implements 'default')");
    dicts.push_back(section[key]);
  }
  auto lookup = [&](const char* name, float fallback) {
    float value = float_field(section, name, where, fallback);
    for (auto it = dicts.rbegin(); it != dicts.rend(); ++it)
      value = float_field(*it, name, where, value);
    return value;
  };
  *theta = lookup("rope_theta", 10000.0f);
  GLMASR_CHECK(*theta > 0.0f, where, ": rope_theta must be positive, got ", *theta);
  if (partial) *partial = lookup("partial_rotary_factor", *partial);
}

void require_activation(const json& section, const char* name, const std::string& expected,
                        const std::string& where) {
  const std::string value = section.value(name, expected);
  GLMASR_CHECK(value == expected, where, ": ", name, " '", value, "' is not supported (expected '",
               expected, "')");
}

// One id or a list of ids. Wide integers so that an out-of-range id is reported, not wrapped.
std::vector<int64_t> eos_ids(const json& value) {
  std::vector<int64_t> ids;
  auto add = [&](const json& id) {
    if (id.is_number_unsigned())
      ids.push_back(static_cast<int64_t>(std::min<uint64_t>(id.get<uint64_t>(), INT64_MAX)));
    else if (id.is_number_integer())
      ids.push_back(id.get<int64_t>());
  };
  add(value);
  if (value.is_array())
    for (const auto& id : value) add(id);
  return ids;
}

// Attention heads of one tower: num_attention_heads, num_key_value_heads (default: the same)
// and head_dim (default: hidden_size split across the heads, which must then divide it).
void read_heads(const json& section, const std::string& where, int hidden_size, int* heads,
                int* kv_heads, int* head_dim) {
  *heads = int_field(section, "num_attention_heads", where);
  *kv_heads = int_field(section, "num_key_value_heads", where, *heads);
  GLMASR_CHECK(section.contains("head_dim") || hidden_size % *heads == 0, where, ": hidden_size ",
               hidden_size, " is not a multiple of num_attention_heads ", *heads,
               " and no head_dim is given");
  *head_dim = int_field(section, "head_dim", where, hidden_size / *heads);
  GLMASR_CHECK(*heads % *kv_heads == 0, where, ": num_attention_heads ", *heads,
               " is not a multiple of num_key_value_heads ", *kv_heads);
}

ModelConfig parse_model_config(const json& root, const std::string& config_path) {
  GLMASR_CHECK(root.is_object(), config_path, ": expected a JSON object");
  GLMASR_CHECK(root.contains("model_type"), config_path,
               ": missing required field 'model_type' (expected 'glmasr')");
  const std::string model_type = root["model_type"].get<std::string>();
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
  read_heads(audio, audio_where, enc.hidden_size, &enc.num_heads, &enc.num_kv_heads, &enc.head_dim);
  float partial = 0.5f;  // GlmAsrEncoderConfig's default
  read_rope(audio, audio_where, &enc.rope_theta, &partial);
  enc.rotary_dim = static_cast<int>(enc.head_dim * partial);
  GLMASR_CHECK(enc.rotary_dim % 2 == 0 && enc.rotary_dim > 0 && enc.rotary_dim <= enc.head_dim,
               audio_where, ": partial_rotary_factor ", partial, " gives ", enc.rotary_dim,
               " rotary dims of ", enc.head_dim, " (must be even and positive)");
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
  read_heads(text, text_where, dec.hidden_size, &dec.num_heads, &dec.num_kv_heads, &dec.head_dim);
  GLMASR_CHECK(dec.head_dim % 2 == 0, text_where, ": head_dim ", dec.head_dim, " must be even");
  dec.max_positions = int_field(text, "max_position_embeddings", text_where, 8192);
  dec.rms_norm_eps = float_field(text, "rms_norm_eps", text_where, 1e-5f);
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

  // transformers 5 writes "dtype", older versions "torch_dtype"; null means "not recorded".
  std::string dtype;
  for (const char* key : {"dtype", "torch_dtype"})
    if (dtype.empty() && root.contains(key) && !root[key].is_null())
      dtype = root[key].get<std::string>();
  if (!dtype.empty()) {
    config.has_weight_dtype = true;
    if (dtype == "bfloat16")
      config.weight_dtype = DType::kBF16;
    else if (dtype == "float16")
      config.weight_dtype = DType::kF16;
    else if (dtype == "float32")
      config.weight_dtype = DType::kF32;
    else
      fail(config_path, ": unsupported dtype '", dtype,
           "' (expected bfloat16, float16 or float32)");
  }

  return config;
}

}  // namespace

ModelConfig load_model_config(const std::string& config_path,
                              const std::string& generation_config_path) {
  const json root = read_json_file(config_path);
  ModelConfig config;
  try {
    config = parse_model_config(root, config_path);
  } catch (const json::exception& e) {
    // A field of the wrong JSON type (e.g. "model_type": 3) surfaces here; name the file.
    fail(config_path, ": unexpected field type: ", e.what());
  }

  std::vector<int64_t> eos = eos_ids(root["text_config"].value("eos_token_id", json()));
  std::string eos_source = config_path + " text_config";
  if (!generation_config_path.empty() && std::filesystem::exists(generation_config_path)) {
    const json generation = read_json_file(generation_config_path);
    // generation_config.json is what transformers' generate() stops on, so it wins; an empty or
    // null entry there does not erase the ids from config.json.
    if (generation.is_object() && generation.contains("eos_token_id")) {
      const std::vector<int64_t> ids = eos_ids(generation["eos_token_id"]);
      if (!ids.empty()) {
        eos = ids;
        eos_source = generation_config_path;
      }
    }
  }
  GLMASR_CHECK(!eos.empty(), config_path,
               ": no eos_token_id in text_config or generation_config.json");
  for (int64_t id : eos) {
    GLMASR_CHECK(id >= 0 && id < config.decoder.vocab_size, eos_source, ": eos id ", id,
                 " is outside the vocabulary (expected 0..", config.decoder.vocab_size - 1, ")");
    config.eos_token_ids.push_back(static_cast<int>(id));
  }
  return config;
}

}  // namespace glmasr
