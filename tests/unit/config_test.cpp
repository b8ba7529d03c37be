// load_model_config: every field comes from config.json (and generation_config.json), defaults
// apply only to optional fields, and every unsupported or missing field is an error that names
// the file and the field.
#include "model/config.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "testing/testing.h"
#include "unit/checkpoint_fixture.h"

namespace glmasr {
namespace {

using nlohmann::json;

// A config whose every value differs from the defaults and from the released model, so a field
// that is not read (or read from the wrong section) shows up as a mismatch.
json distinctive_config() {
  return json::parse(R"({
    "model_type": "glmasr",
    "audio_config": {
      "num_mel_bins": 80, "hidden_size": 48, "intermediate_size": 192, "num_hidden_layers": 3,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16, "hidden_act": "gelu",
      "rope_parameters": {"rope_type": "default", "rope_theta": 5000.0,
                          "partial_rotary_factor": 0.25}
    },
    "text_config": {
      "vocab_size": 1000, "hidden_size": 20, "intermediate_size": 56, "num_hidden_layers": 5,
      "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 6, "hidden_act": "silu",
      "max_position_embeddings": 4096, "rms_norm_eps": 1e-6, "eos_token_id": [7, 8],
      "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}
    },
    "audio_token_id": 999,
    "projector_hidden_act": "gelu",
    "dtype": "float16"
  })");
}

// The smallest config: only the required fields.
json minimal_config() {
  return json::parse(R"({
    "model_type": "glmasr",
    "audio_config": {"hidden_size": 32, "intermediate_size": 128, "num_hidden_layers": 1,
                     "num_attention_heads": 2},
    "text_config": {"vocab_size": 59264, "hidden_size": 16, "intermediate_size": 40,
                    "num_hidden_layers": 1, "num_attention_heads": 2, "eos_token_id": 59246}
  })");
}

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::make_temp_dir(std::string("config-") +
                                  ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }

  std::string config_path() const { return dir_ + "/config.json"; }
  std::string generation_path() const { return dir_ + "/generation_config.json"; }

  ModelConfig load(const json& config) const {
    testing::write_json(config_path(), config);
    return load_model_config(config_path(), generation_path());
  }

  // The error message of loading `config`; fails the test when it loads.
  std::string error_of(const json& config) const {
    testing::write_json(config_path(), config);
    return error_loading(config_path());
  }

  // The error message of loading the config file at `path`; fails the test when it loads.
  std::string error_loading(const std::string& path) const {
    try {
      load_model_config(path, generation_path());
    } catch (const Error& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected an error loading " << path;
    return "";
  }

  std::string dir_;
};

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "'"

TEST_F(ConfigTest, ReadsEveryFieldFromTheFile) {
  const ModelConfig c = load(distinctive_config());
  EXPECT_EQ(c.encoder.num_mel_bins, 80);
  EXPECT_EQ(c.encoder.hidden_size, 48);
  EXPECT_EQ(c.encoder.intermediate_size, 192);
  EXPECT_EQ(c.encoder.num_layers, 3);
  EXPECT_EQ(c.encoder.num_heads, 4);
  EXPECT_EQ(c.encoder.num_kv_heads, 2);
  EXPECT_EQ(c.encoder.head_dim, 16);
  EXPECT_EQ(c.encoder.rotary_dim, 4);  // 16 * 0.25
  EXPECT_FLOAT_EQ(c.encoder.rope_theta, 5000.0f);
  EXPECT_EQ(c.encoder.merge_factor, 4);  // 192 / 48
  EXPECT_EQ(c.projector.input_size, 192);
  EXPECT_EQ(c.projector.hidden_size, 40);
  EXPECT_EQ(c.projector.output_size, 20);
  EXPECT_EQ(c.decoder.vocab_size, 1000);
  EXPECT_EQ(c.decoder.hidden_size, 20);
  EXPECT_EQ(c.decoder.intermediate_size, 56);
  EXPECT_EQ(c.decoder.num_layers, 5);
  EXPECT_EQ(c.decoder.num_heads, 4);
  EXPECT_EQ(c.decoder.num_kv_heads, 2);
  EXPECT_EQ(c.decoder.head_dim, 6);
  EXPECT_EQ(c.decoder.max_positions, 4096);
  EXPECT_FLOAT_EQ(c.decoder.rms_norm_eps, 1e-6f);
  EXPECT_FLOAT_EQ(c.decoder.rope_theta, 500000.0f);
  EXPECT_EQ(c.audio_token_id, 999);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{7, 8}));
  EXPECT_TRUE(c.has_weight_dtype);
  EXPECT_EQ(c.weight_dtype, DType::kF16);
  EXPECT_EQ(c.source, config_path());
}

TEST_F(ConfigTest, HiddenSizeNeedNotEqualHeadsTimesHeadDim) {
  // distinctive_config: encoder 4 x 16 = 64 != 48 and decoder 4 x 6 = 24 != 20; and neither
  // hidden size needs to divide by the heads when head_dim is explicit.
  json config = distinctive_config();
  config["audio_config"]["num_attention_heads"] = 5;
  config["audio_config"]["num_key_value_heads"] = 5;
  config["text_config"]["num_attention_heads"] = 3;
  config["text_config"]["num_key_value_heads"] = 1;
  const ModelConfig c = load(config);
  EXPECT_EQ(c.encoder.num_heads * c.encoder.head_dim, 80);
  EXPECT_EQ(c.decoder.num_heads * c.decoder.head_dim, 18);
  // Without head_dim the heads must split hidden_size.
  config["text_config"].erase("head_dim");
  const std::string error = error_of(config);
  EXPECT_CONTAINS(error, "text_config");
  EXPECT_CONTAINS(error, "not a multiple of num_attention_heads");
}

TEST_F(ConfigTest, OptionalFieldsTakeDefaults) {
  const ModelConfig c = load(minimal_config());
  EXPECT_EQ(c.encoder.num_mel_bins, 128);
  EXPECT_EQ(c.encoder.num_kv_heads, 2);
  EXPECT_EQ(c.encoder.head_dim, 16);
  EXPECT_EQ(c.encoder.rotary_dim, 8);  // partial_rotary_factor 0.5
  EXPECT_FLOAT_EQ(c.encoder.rope_theta, 10000.0f);
  EXPECT_FLOAT_EQ(c.encoder.layer_norm_eps, 1e-5f);
  EXPECT_EQ(c.decoder.num_kv_heads, 2);
  EXPECT_EQ(c.decoder.head_dim, 8);
  EXPECT_EQ(c.decoder.max_positions, 8192);
  EXPECT_FLOAT_EQ(c.decoder.rms_norm_eps, 1e-5f);
  EXPECT_FLOAT_EQ(c.decoder.rope_theta, 10000.0f);
  EXPECT_EQ(c.audio_token_id, 59260);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{59246}));
  EXPECT_FALSE(c.has_weight_dtype);
}

TEST_F(ConfigTest, TinyFixtureConfig) {
  const ModelConfig c = load_model_config(testing::tiny_dir() + "/config.json",
                                          testing::tiny_dir() + "/generation_config.json");
  EXPECT_EQ(c.encoder.hidden_size, 32);
  EXPECT_EQ(c.encoder.rotary_dim, 8);
  EXPECT_EQ(c.decoder.head_dim, 12);
  EXPECT_EQ(c.decoder.num_kv_heads, 1);
  EXPECT_EQ(c.decoder.vocab_size, 59264);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int>{59246, 59253, 59255}));
  EXPECT_EQ(c.weight_dtype, DType::kBF16);
}

TEST_F(ConfigTest, LegacyTopLevelRopeFields) {
  json config = minimal_config();
  config["audio_config"]["rope_theta"] = 30000.0;
  config["audio_config"]["partial_rotary_factor"] = 0.25;
  config["text_config"]["rope_theta"] = 250000.0;
  const ModelConfig c = load(config);
  EXPECT_FLOAT_EQ(c.encoder.rope_theta, 30000.0f);
  EXPECT_EQ(c.encoder.rotary_dim, 4);
  EXPECT_FLOAT_EQ(c.decoder.rope_theta, 250000.0f);
}

TEST_F(ConfigTest, RopeParametersWinOverLegacyFields) {
  json config = minimal_config();
  config["audio_config"]["rope_theta"] = 30000.0;
  config["audio_config"]["partial_rotary_factor"] = 0.25;
  config["audio_config"]["rope_parameters"] = {
      {"rope_type", "default"}, {"rope_theta", 20000.0}, {"partial_rotary_factor", 0.75}};
  // An older rope_scaling beside rope_parameters must not hide rope_parameters' theta.
  config["text_config"]["rope_theta"] = 1.0;
  config["text_config"]["rope_scaling"] = {{"type", "default"}};
  config["text_config"]["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 40000.0}};
  const ModelConfig c = load(config);
  EXPECT_FLOAT_EQ(c.encoder.rope_theta, 20000.0f);
  EXPECT_EQ(c.encoder.rotary_dim, 12);  // 16 * 0.75
  EXPECT_FLOAT_EQ(c.decoder.rope_theta, 40000.0f);
  // rope_scaling: null is what transformers writes for "no scaling".
  config["text_config"]["rope_scaling"] = nullptr;
  EXPECT_FLOAT_EQ(load(config).decoder.rope_theta, 40000.0f);
}

TEST_F(ConfigTest, UnsupportedRopeTypeIsAnError) {
  json config = minimal_config();
  config["text_config"]["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 1e4}};
  std::string error = error_of(config);
  EXPECT_CONTAINS(error, config_path());
  EXPECT_CONTAINS(error, "text_config");
  EXPECT_CONTAINS(error, "unsupported rope_type 'llama3'");

  config = minimal_config();
  config["audio_config"]["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  error = error_of(config);
  EXPECT_CONTAINS(error, "audio_config");
  EXPECT_CONTAINS(error, "'yarn'");

  config = minimal_config();
  config["text_config"]["rope_parameters"] = {{"rope_type", "default"},
                                              {"partial_rotary_factor", 0.5}};
  EXPECT_CONTAINS(error_of(config), "partial rotary in the decoder");

  config = minimal_config();
  config["audio_config"]["partial_rotary_factor"] = 0.0;
  EXPECT_CONTAINS(error_of(config), "partial_rotary_factor");
}

TEST_F(ConfigTest, UnsupportedActivationsAreErrors) {
  json config = minimal_config();
  config["audio_config"]["hidden_act"] = "relu";
  std::string error = error_of(config);
  EXPECT_CONTAINS(error, config_path());
  EXPECT_CONTAINS(error, "audio_config: hidden_act 'relu' is not supported (expected 'gelu')");

  config = minimal_config();
  config["text_config"]["hidden_act"] = "gelu";
  EXPECT_CONTAINS(error_of(config),
                  "text_config: hidden_act 'gelu' is not supported (expected 'silu')");

  config = minimal_config();
  config["projector_hidden_act"] = "gelu_new";
  EXPECT_CONTAINS(error_of(config), "projector_hidden_act 'gelu_new'");

  config = minimal_config();
  config["text_config"]["attention_bias"] = true;
  EXPECT_CONTAINS(error_of(config), "attention_bias");
}

TEST_F(ConfigTest, UnsupportedModelTypeIsAnError) {
  json config = minimal_config();
  config["model_type"] = "whisper";
  std::string error = error_of(config);
  EXPECT_CONTAINS(error, config_path());
  EXPECT_CONTAINS(error, "model_type 'whisper'");
  EXPECT_CONTAINS(error, "expected 'glmasr'");

  config.erase("model_type");
  EXPECT_CONTAINS(error_of(config), "missing required field 'model_type'");

  config["model_type"] = 3;  // wrong JSON type: still an error naming the file
  error = error_of(config);
  EXPECT_CONTAINS(error, config_path());
}

TEST_F(ConfigTest, MissingRequiredFieldsNameFileAndField) {
  for (const char* section : {"audio_config", "text_config"}) {
    json config = minimal_config();
    config.erase(section);
    const std::string error = error_of(config);
    EXPECT_CONTAINS(error, config_path());
    EXPECT_CONTAINS(error, std::string("missing ") + section);
  }
  const std::pair<const char*, const char*> required[] = {
      {"audio_config", "hidden_size"},        {"audio_config", "intermediate_size"},
      {"audio_config", "num_hidden_layers"},  {"audio_config", "num_attention_heads"},
      {"text_config", "vocab_size"},          {"text_config", "hidden_size"},
      {"text_config", "intermediate_size"},   {"text_config", "num_hidden_layers"},
      {"text_config", "num_attention_heads"},
  };
  for (const auto& [section, field] : required) {
    SCOPED_TRACE(std::string(section) + "." + field);
    json config = minimal_config();
    config[section].erase(field);
    const std::string error = error_of(config);
    EXPECT_CONTAINS(error, config_path() + " " + section);
    EXPECT_CONTAINS(error, std::string("missing required field '") + field + "'");
  }
}

TEST_F(ConfigTest, MistypedAndOutOfRangeFieldsAreErrors) {
  json config = minimal_config();
  config["audio_config"]["hidden_size"] = "32";
  EXPECT_CONTAINS(error_of(config), "field 'hidden_size' must be an integer");

  config = minimal_config();
  config["text_config"]["num_hidden_layers"] = 0;
  EXPECT_CONTAINS(error_of(config), "field 'num_hidden_layers' must be a positive integer");

  config = minimal_config();
  config["text_config"]["vocab_size"] = 4294967296LL + 59264;  // would wrap to 59264 as int
  EXPECT_CONTAINS(error_of(config), "vocab_size");

  config = minimal_config();
  config["text_config"]["rms_norm_eps"] = "1e-5";
  EXPECT_CONTAINS(error_of(config), "field 'rms_norm_eps' must be a number");

  config = minimal_config();
  config["audio_config"]["intermediate_size"] = 100;  // not whole frames of hidden 32
  EXPECT_CONTAINS(error_of(config), "intermediate_size 100 must be a multiple of hidden_size 32");

  config = minimal_config();
  config["text_config"]["num_key_value_heads"] = 3;
  EXPECT_CONTAINS(error_of(config), "not a multiple of num_key_value_heads 3");

  config = minimal_config();
  config["audio_token_id"] = 59264;
  EXPECT_CONTAINS(error_of(config), "audio_token_id 59264 is outside the vocabulary");
}

TEST_F(ConfigTest, WeightDtypeSpellings) {
  json config = minimal_config();
  for (const auto& [name, dtype] :
       {std::pair{"bfloat16", DType::kBF16}, std::pair{"float16", DType::kF16},
        std::pair{"float32", DType::kF32}}) {
    config["dtype"] = name;
    const ModelConfig c = load(config);
    EXPECT_TRUE(c.has_weight_dtype);
    EXPECT_EQ(c.weight_dtype, dtype) << name;
  }
  config.erase("dtype");
  config["torch_dtype"] = "float32";  // transformers 4 spelling
  EXPECT_EQ(load(config).weight_dtype, DType::kF32);
  config["torch_dtype"] = nullptr;
  EXPECT_FALSE(load(config).has_weight_dtype);
  config["dtype"] = "int8";
  const std::string error = error_of(config);
  EXPECT_CONTAINS(error, config_path());
  EXPECT_CONTAINS(error, "unsupported dtype 'int8'");
}

TEST_F(ConfigTest, GenerationConfigEosIdsOverrideTextConfig) {
  testing::write_json(generation_path(), {{"eos_token_id", {59253, 59255}}});
  EXPECT_EQ(load(minimal_config()).eos_token_ids, (std::vector<int>{59253, 59255}));
  testing::write_json(generation_path(), {{"eos_token_id", 5}});
  EXPECT_EQ(load(minimal_config()).eos_token_ids, (std::vector<int>{5}));
  // No eos entry, or a null one, keeps config.json's ids.
  testing::write_json(generation_path(), {{"do_sample", false}});
  EXPECT_EQ(load(minimal_config()).eos_token_ids, (std::vector<int>{59246}));
  testing::write_json(generation_path(), {{"eos_token_id", nullptr}});
  EXPECT_EQ(load(minimal_config()).eos_token_ids, (std::vector<int>{59246}));
  // An empty generation path means "do not look".
  testing::write_json(generation_path(), {{"eos_token_id", 5}});
  testing::write_json(config_path(), minimal_config());
  EXPECT_EQ(load_model_config(config_path()).eos_token_ids, (std::vector<int>{59246}));
}

TEST_F(ConfigTest, EosErrorsNameTheirFile) {
  testing::write_json(generation_path(), {{"eos_token_id", {59246, 70000}}});
  std::string error = error_of(minimal_config());
  EXPECT_CONTAINS(error, generation_path());
  EXPECT_CONTAINS(error, "eos id 70000 is outside the vocabulary");

  testing::write_text(generation_path(), "{not json");
  EXPECT_CONTAINS(error_of(minimal_config()), generation_path());

  std::filesystem::remove(generation_path());
  json config = minimal_config();
  config["text_config"].erase("eos_token_id");
  EXPECT_CONTAINS(error_of(config), "no eos_token_id");
}

TEST_F(ConfigTest, UnreadableFilesNameThePath) {
  const std::string missing = dir_ + "/absent/config.json";
  std::string error = error_loading(missing);
  EXPECT_CONTAINS(error, missing);
  EXPECT_CONTAINS(error, "cannot open");
  testing::write_text(config_path(), "{\"model_type\": \"glmasr\",");
  error = error_loading(config_path());
  EXPECT_CONTAINS(error, config_path());
  EXPECT_CONTAINS(error, "invalid JSON");
  testing::write_text(config_path(), "[1, 2]");
  EXPECT_CONTAINS(error_loading(config_path()), "expected a JSON object");
}

}  // namespace
}  // namespace glmasr
