// load_weights: the one place that spells tensor names. Every field of ModelWeights must point at
// the right checkpoint tensor, and shapes and dtypes are checked against the config.
#include "model/weights.h"

#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "testing/testing.h"
#include "unit/checkpoint_fixture.h"

namespace glmasr {
namespace {

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "'"

ModelConfig config_of(const std::string& dir) {
  return load_model_config(dir + "/config.json", dir + "/generation_config.json");
}

// Every view of ModelWeights with the hub name it must come from (spelled independently of
// weights.cpp, so a swapped field such as up/gate shows up).
std::vector<std::pair<std::string, TensorView>> named_views(const ModelWeights& w) {
  std::vector<std::pair<std::string, TensorView>> views = {
      {"audio_tower.conv1.weight", w.conv1_weight},
      {"audio_tower.conv1.bias", w.conv1_bias},
      {"audio_tower.conv2.weight", w.conv2_weight},
      {"audio_tower.conv2.bias", w.conv2_bias},
      {"audio_tower.norm.weight", w.encoder_norm_weight},
      {"audio_tower.norm.bias", w.encoder_norm_bias},
      {"multi_modal_projector.linear_1.weight", w.projector1_weight},
      {"multi_modal_projector.linear_1.bias", w.projector1_bias},
      {"multi_modal_projector.linear_2.weight", w.projector2_weight},
      {"multi_modal_projector.linear_2.bias", w.projector2_bias},
      {"language_model.model.embed_tokens.weight", w.embed_tokens},
      {"language_model.model.norm.weight", w.final_norm_weight},
  };
  if (!w.lm_head_is_embedding) views.push_back({"language_model.lm_head.weight", w.lm_head});
  for (size_t i = 0; i < w.encoder_layers.size(); ++i) {
    const std::string p = "audio_tower.layers." + std::to_string(i) + ".";
    const EncoderLayerWeights& l = w.encoder_layers[i];
    views.insert(views.end(), {{p + "input_layernorm.weight", l.attn_norm_weight},
                               {p + "input_layernorm.bias", l.attn_norm_bias},
                               {p + "self_attn.q_proj.weight", l.q_weight},
                               {p + "self_attn.q_proj.bias", l.q_bias},
                               {p + "self_attn.k_proj.weight", l.k_weight},
                               {p + "self_attn.v_proj.weight", l.v_weight},
                               {p + "self_attn.v_proj.bias", l.v_bias},
                               {p + "self_attn.o_proj.weight", l.o_weight},
                               {p + "self_attn.o_proj.bias", l.o_bias},
                               {p + "post_attention_layernorm.weight", l.mlp_norm_weight},
                               {p + "post_attention_layernorm.bias", l.mlp_norm_bias},
                               {p + "mlp.fc1.weight", l.fc1_weight},
                               {p + "mlp.fc1.bias", l.fc1_bias},
                               {p + "mlp.fc2.weight", l.fc2_weight},
                               {p + "mlp.fc2.bias", l.fc2_bias}});
  }
  for (size_t i = 0; i < w.decoder_layers.size(); ++i) {
    const std::string p = "language_model.model.layers." + std::to_string(i) + ".";
    const DecoderLayerWeights& l = w.decoder_layers[i];
    views.insert(views.end(), {{p + "input_layernorm.weight", l.attn_norm_weight},
                               {p + "self_attn.q_proj.weight", l.q_weight},
                               {p + "self_attn.k_proj.weight", l.k_weight},
                               {p + "self_attn.v_proj.weight", l.v_weight},
                               {p + "self_attn.o_proj.weight", l.o_weight},
                               {p + "post_attention_layernorm.weight", l.mlp_norm_weight},
                               {p + "mlp.gate_proj.weight", l.gate_weight},
                               {p + "mlp.up_proj.weight", l.up_weight},
                               {p + "mlp.down_proj.weight", l.down_weight}});
  }
  return views;
}

// Writes the tiny folder with `edit` applied to its tensors (and optionally its config).
std::string edited_folder(const std::string& tag,
                          const std::function<void(std::vector<TensorToWrite>&)>& edit) {
  const std::string dir = testing::copy_tiny_folder(tag, false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  edit(tensors);
  write_safetensors(dir + "/model.safetensors", tensors);
  return dir;
}

std::string load_error(const std::string& dir) {
  try {
    const Checkpoint checkpoint(dir);
    load_weights(checkpoint, config_of(dir));
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected " << dir << " to fail";
  return "";
}

TEST(Weights, EveryFieldPointsAtItsCheckpointTensor) {
  const Checkpoint checkpoint(testing::tiny_dir());
  const ModelWeights weights = load_weights(checkpoint, config_of(testing::tiny_dir()));
  EXPECT_EQ(weights.encoder_layers.size(), 2u);
  EXPECT_EQ(weights.decoder_layers.size(), 2u);
  const auto views = named_views(weights);
  std::set<std::string> names;
  for (const auto& [name, view] : views) {
    SCOPED_TRACE(name);
    names.insert(name);
    const TensorView expected = checkpoint.get(name);
    EXPECT_EQ(view.data, expected.data);
    EXPECT_EQ(view.nbytes, expected.nbytes);
    EXPECT_EQ(view.shape, expected.shape);
    EXPECT_EQ(view.dtype, DType::kBF16);
  }
  // Together they cover the whole file: nothing the model needs is left behind.
  const std::vector<std::string> all = checkpoint.hub_names();
  EXPECT_EQ(names, std::set<std::string>(all.begin(), all.end()));
  EXPECT_TRUE(weights.unused.empty());
}

TEST(Weights, ShapesFollowTheConfig) {
  const Checkpoint checkpoint(testing::tiny_dir());
  const ModelWeights w = load_weights(checkpoint, config_of(testing::tiny_dir()));
  // Decoder: hidden 16, 2 heads x head_dim 12 (24 != 16), 1 kv head, MLP 40.
  EXPECT_EQ(w.decoder_layers[0].q_weight.shape, (Shape{24, 16}));
  EXPECT_EQ(w.decoder_layers[0].k_weight.shape, (Shape{12, 16}));
  EXPECT_EQ(w.decoder_layers[0].o_weight.shape, (Shape{16, 24}));
  EXPECT_EQ(w.decoder_layers[1].down_weight.shape, (Shape{16, 40}));
  // Projector: merge 4 x 32 -> 2 x 16 -> 16.
  EXPECT_EQ(w.projector1_weight.shape, (Shape{32, 128}));
  EXPECT_EQ(w.projector2_weight.shape, (Shape{16, 32}));
  EXPECT_EQ(w.conv1_weight.shape, (Shape{32, 128, 3}));
}

TEST(Weights, MissingTensorNamesTensorAndExpectedShape) {
  const std::string dir = edited_folder("weights-missing", [](auto& tensors) {
    testing::remove_tensor(tensors, "language_model.model.layers.1.mlp.up_proj.weight");
  });
  const std::string error = load_error(dir);
  EXPECT_CONTAINS(error, dir);
  EXPECT_CONTAINS(error, "missing tensor 'language_model.model.layers.1.mlp.up_proj.weight'");
  EXPECT_CONTAINS(error, "expected shape [40, 16]");
}

TEST(Weights, MoreLayersInConfigThanInFileIsAMissingTensor) {
  const std::string dir = testing::copy_tiny_folder("weights-layers");
  nlohmann::json config = testing::tiny_config_json();
  config["audio_config"]["num_hidden_layers"] = 3;
  testing::write_json(dir + "/config.json", config);
  EXPECT_CONTAINS(load_error(dir), "missing tensor 'audio_tower.layers.2.input_layernorm.weight'");
}

TEST(Weights, WrongShapeNamesTensorAndBothShapes) {
  const std::string dir = edited_folder("weights-shape", [](auto& tensors) {
    TensorToWrite& tensor = testing::find_tensor(tensors, "audio_tower.layers.0.mlp.fc1.weight");
    tensor.shape = {32, 128};  // the transpose: same bytes, wrong layout
  });
  const std::string error = load_error(dir);
  EXPECT_CONTAINS(error, dir + "/model.safetensors");
  EXPECT_CONTAINS(error, "tensor 'audio_tower.layers.0.mlp.fc1.weight' has shape [32, 128]");
  EXPECT_CONTAINS(error, "expected [128, 32]");
}

TEST(Weights, DtypeOtherThanTheConfigsIsAnError) {
  const std::string dir = edited_folder("weights-dtype", [](auto& tensors) {
    testing::convert_bf16_to_f32(testing::find_tensor(tensors, "audio_tower.conv2.bias"));
  });
  const std::string error = load_error(dir);
  EXPECT_CONTAINS(error, dir + "/model.safetensors");
  EXPECT_CONTAINS(error, "tensor 'audio_tower.conv2.bias' has dtype F32");
  EXPECT_CONTAINS(error, "expected BF16 as config.json says");

  // Without a dtype in config.json, mixed float types are fine.
  nlohmann::json config = testing::tiny_config_json();
  config.erase("dtype");
  testing::write_json(dir + "/config.json", config);
  const Checkpoint checkpoint(dir);
  const ModelWeights weights = load_weights(checkpoint, config_of(dir));
  EXPECT_EQ(weights.conv2_bias.dtype, DType::kF32);
  EXPECT_EQ(weights.conv1_bias.dtype, DType::kBF16);
}

TEST(Weights, IntegerTensorIsAnErrorEvenWithoutConfigDtype) {
  const std::string dir = edited_folder("weights-int", [](auto& tensors) {
    TensorToWrite& tensor = testing::find_tensor(tensors, "audio_tower.norm.bias");
    tensor.dtype = DType::kI16;  // same byte count, not a float
  });
  nlohmann::json config = testing::tiny_config_json();
  config.erase("dtype");
  testing::write_json(dir + "/config.json", config);
  const std::string error = load_error(dir);
  EXPECT_CONTAINS(error, "tensor 'audio_tower.norm.bias' has dtype I16");
  EXPECT_CONTAINS(error, "expected a float type");
}

TEST(Weights, WrongLmHeadShapeIsAnErrorNotAFallback) {
  const std::string dir = edited_folder("weights-lmhead", [](auto& tensors) {
    TensorToWrite& tensor = testing::find_tensor(tensors, "language_model.lm_head.weight");
    tensor.shape = {59264 / 2, 32};
  });
  EXPECT_CONTAINS(load_error(dir), "tensor 'language_model.lm_head.weight' has shape [29632, 32]");
}

}  // namespace
}  // namespace glmasr
