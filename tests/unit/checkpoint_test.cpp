// Checkpoint: the hub and transformers-5 key layouts, single-file and sharded folders, and the
// errors for duplicated, missing or misplaced tensors.
#include "model/checkpoint.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/config.h"
#include "model/weights.h"
#include "testing/testing.h"
#include "unit/checkpoint_fixture.h"

namespace glmasr {
namespace {

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "'" << (text) << "'"

std::string error_of_opening(const std::string& dir) {
  try {
    Checkpoint checkpoint(dir);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected " << dir << " to fail";
  return "";
}

// The hub key -> transformers-5 key rename, the inverse of to_hub_tensor_name.
std::string to_transformers5_name(const std::string& hub) {
  const std::pair<const char*, const char*> prefixes[] = {
      {"audio_tower.", "model.audio_tower."},
      {"multi_modal_projector.", "model.multi_modal_projector."},
      {"language_model.model.", "model.language_model."},
      {"language_model.lm_head.", "lm_head."},
  };
  for (const auto& [from, to] : prefixes)
    if (hub.rfind(from, 0) == 0) return to + hub.substr(std::strlen(from));
  ADD_FAILURE() << "no transformers-5 name for " << hub;
  return hub;
}

ModelConfig tiny_config() {
  return load_model_config(testing::tiny_dir() + "/config.json",
                           testing::tiny_dir() + "/generation_config.json");
}

// Every tensor of `actual` has the bytes, dtype and shape of the same hub name in the fixture,
// and both hold the same names.
void expect_same_tensors(const Checkpoint& actual) {
  const Checkpoint reference(testing::tiny_dir());
  ASSERT_EQ(actual.hub_names(), reference.hub_names());
  for (const std::string& name : reference.hub_names()) {
    const TensorView a = actual.get(name), b = reference.get(name);
    EXPECT_EQ(a.dtype, b.dtype) << name;
    EXPECT_EQ(a.shape, b.shape) << name;
    ASSERT_EQ(a.nbytes, b.nbytes) << name;
    EXPECT_EQ(std::memcmp(a.data, b.data, a.nbytes), 0) << name;
  }
}

TEST(TensorNames, TransformersFiveKeysMapToHubKeys) {
  EXPECT_EQ(to_hub_tensor_name("model.audio_tower.conv1.weight"), "audio_tower.conv1.weight");
  EXPECT_EQ(to_hub_tensor_name("model.multi_modal_projector.linear_1.bias"),
            "multi_modal_projector.linear_1.bias");
  EXPECT_EQ(to_hub_tensor_name("model.language_model.layers.3.mlp.up_proj.weight"),
            "language_model.model.layers.3.mlp.up_proj.weight");
  EXPECT_EQ(to_hub_tensor_name("lm_head.weight"), "language_model.lm_head.weight");
  // Hub keys and anything unknown pass through unchanged.
  EXPECT_EQ(to_hub_tensor_name("language_model.model.norm.weight"),
            "language_model.model.norm.weight");
  EXPECT_EQ(to_hub_tensor_name("audio_tower.norm.bias"), "audio_tower.norm.bias");
  EXPECT_EQ(to_hub_tensor_name("model.something_else.weight"), "model.something_else.weight");
}

TEST(Checkpoint, OpensTheTinyFixture) {
  const Checkpoint checkpoint(testing::tiny_dir());
  EXPECT_EQ(checkpoint.hub_names().size(), 61u);  // 36 audio + 4 projector + 21 text
  EXPECT_TRUE(checkpoint.contains("language_model.lm_head.weight"));
  EXPECT_EQ(checkpoint.file_paths(),
            (std::vector<std::string>{testing::tiny_dir() + "/model.safetensors"}));
  EXPECT_EQ(checkpoint.name_in_file("audio_tower.conv1.weight"), "audio_tower.conv1.weight");
  EXPECT_EQ(checkpoint.get("audio_tower.conv1.weight").shape, (Shape{32, 128, 3}));
  try {
    checkpoint.get("audio_tower.nope");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), testing::tiny_dir());
    EXPECT_CONTAINS(e.what(), "missing tensor 'audio_tower.nope'");
  }
}

TEST(Checkpoint, TransformersFiveLayoutLoadsIdentically) {
  const std::string dir = testing::copy_tiny_folder("ckpt-t5", /*with_weights=*/false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  for (auto& tensor : tensors) tensor.name = to_transformers5_name(tensor.name);
  write_safetensors(dir + "/model.safetensors", tensors);

  const Checkpoint checkpoint(dir);
  expect_same_tensors(checkpoint);
  EXPECT_EQ(checkpoint.name_in_file("language_model.lm_head.weight"), "lm_head.weight");
  EXPECT_EQ(checkpoint.name_in_file("language_model.model.norm.weight"),
            "model.language_model.norm.weight");
  // And the model sees the same weights: the stored lm_head, nothing unused.
  const ModelWeights weights = load_weights(checkpoint, tiny_config());
  EXPECT_FALSE(weights.lm_head_is_embedding);
  EXPECT_TRUE(weights.unused.empty());
  EXPECT_EQ(weights.lm_head.data, checkpoint.get("language_model.lm_head.weight").data);
}

TEST(Checkpoint, ShardedFolderLoadsIdentically) {
  const std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  for (bool transformers5 : {false, true}) {
    SCOPED_TRACE(transformers5 ? "transformers-5 keys" : "hub keys");
    const std::string dir =
        testing::copy_tiny_folder(transformers5 ? "ckpt-shard-t5" : "ckpt-shard", false);
    std::vector<TensorToWrite> renamed = tensors;
    if (transformers5)
      for (auto& tensor : renamed) tensor.name = to_transformers5_name(tensor.name);
    testing::write_sharded(dir, renamed, 3);

    const Checkpoint checkpoint(dir);
    expect_same_tensors(checkpoint);
    EXPECT_EQ(checkpoint.file_paths().size(), 3u);
    EXPECT_EQ(checkpoint.file_of("audio_tower.conv1.bias"),
              dir + "/model-00001-of-00003.safetensors");
    EXPECT_EQ(checkpoint.file_of("multi_modal_projector.linear_2.weight"),
              dir + "/model-00003-of-00003.safetensors");
    const ModelWeights weights = load_weights(checkpoint, tiny_config());
    EXPECT_FALSE(weights.lm_head_is_embedding);
    EXPECT_TRUE(weights.unused.empty());
  }
}

TEST(Checkpoint, IndexWinsOverASingleFile) {
  // A folder with both (a half-finished conversion) reads the index, not model.safetensors.
  const std::string dir = testing::copy_tiny_folder("ckpt-both");
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  testing::remove_tensor(tensors, "language_model.lm_head.weight");
  testing::write_sharded(dir, tensors, 2);
  EXPECT_FALSE(Checkpoint(dir).contains("language_model.lm_head.weight"));
}

TEST(Checkpoint, MissingLmHeadFallsBackToTheEmbedding) {
  const std::string dir = testing::copy_tiny_folder("ckpt-tied", false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  testing::remove_tensor(tensors, "language_model.lm_head.weight");
  write_safetensors(dir + "/model.safetensors", tensors);

  const Checkpoint checkpoint(dir);
  const ModelWeights weights = load_weights(checkpoint, tiny_config());
  EXPECT_TRUE(weights.lm_head_is_embedding);
  EXPECT_EQ(weights.lm_head.data, weights.embed_tokens.data);
  EXPECT_EQ(weights.lm_head.shape, (Shape{59264, 16}));
  EXPECT_TRUE(weights.unused.empty());
}

TEST(Checkpoint, StoredLmHeadIsUsedEvenWhenTiedInConfig) {
  // The fixture's lm_head differs from its embedding: the file's tensor must be the one used.
  const Checkpoint checkpoint(testing::tiny_dir());
  const ModelWeights weights = load_weights(checkpoint, tiny_config());
  EXPECT_FALSE(weights.lm_head_is_embedding);
  EXPECT_EQ(weights.lm_head.data, checkpoint.get("language_model.lm_head.weight").data);
  EXPECT_NE(std::memcmp(weights.lm_head.data, weights.embed_tokens.data, weights.lm_head.nbytes),
            0);
}

TEST(Checkpoint, TensorInBothLayoutsIsAnError) {
  const std::string dir = testing::copy_tiny_folder("ckpt-dup", false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  TensorToWrite copy = testing::find_tensor(tensors, "language_model.model.norm.weight");
  copy.name = "model.language_model.norm.weight";
  tensors.push_back(copy);
  write_safetensors(dir + "/model.safetensors", tensors);
  const std::string error = error_of_opening(dir);
  EXPECT_CONTAINS(error, dir);
  EXPECT_CONTAINS(error, "tensor 'language_model.model.norm.weight' appears twice");
  EXPECT_CONTAINS(error, "'model.language_model.norm.weight'");
}

TEST(Checkpoint, TensorInBothLayoutsAcrossShardsIsAnError) {
  const std::string dir = testing::copy_tiny_folder("ckpt-dup-shard", false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  TensorToWrite copy = testing::find_tensor(tensors, "audio_tower.conv1.bias");
  copy.name = "model.audio_tower.conv1.bias";
  tensors.push_back(copy);  // lands in the last shard, the original in the first
  testing::write_sharded(dir, tensors, 2);
  EXPECT_CONTAINS(error_of_opening(dir), "tensor 'audio_tower.conv1.bias' appears twice");
}

TEST(Checkpoint, ShardListedButTensorMissingNamesShardAndTensor) {
  const std::string dir = testing::copy_tiny_folder("ckpt-shard-missing", false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  testing::write_sharded(dir, tensors, 2);
  // Rewrite shard 2 without one of its tensors; the index still lists it there.
  const std::string shard = dir + "/model-00002-of-00002.safetensors";
  std::vector<TensorToWrite> second = testing::read_all_tensors(shard);
  testing::remove_tensor(second, "language_model.model.norm.weight");
  write_safetensors(shard, second);
  const std::string error = error_of_opening(dir);
  EXPECT_CONTAINS(error, shard);
  EXPECT_CONTAINS(error, "tensor 'language_model.model.norm.weight'");
  EXPECT_CONTAINS(error, "listed in model.safetensors.index.json is missing");
}

TEST(Checkpoint, BrokenIndexesAreErrors) {
  const std::string dir = testing::copy_tiny_folder("ckpt-index", false);
  const std::string index = dir + "/model.safetensors.index.json";
  testing::write_sharded(dir, testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors"),
                         2);

  // A shard that does not exist.
  std::filesystem::remove(dir + "/model-00002-of-00002.safetensors");
  std::string error = error_of_opening(dir);
  EXPECT_CONTAINS(error, dir + "/model-00002-of-00002.safetensors");
  EXPECT_CONTAINS(error, "cannot open");

  testing::write_json(index, {{"metadata", nlohmann::json::object()}});
  error = error_of_opening(dir);
  EXPECT_CONTAINS(error, index);
  EXPECT_CONTAINS(error, "missing weight_map");

  testing::write_json(index, {{"weight_map", nlohmann::json::object()}});
  EXPECT_CONTAINS(error_of_opening(dir), "weight_map is empty");

  testing::write_json(index, {{"weight_map", {{"audio_tower.conv1.bias", 3}}}});
  EXPECT_CONTAINS(error_of_opening(dir), "weight_map entry 'audio_tower.conv1.bias'");

  for (const char* shard : {"../model.safetensors", "..", "sub/x.safetensors"}) {
    testing::write_json(index, {{"weight_map", {{"audio_tower.conv1.bias", shard}}}});
    EXPECT_CONTAINS(error_of_opening(dir), "must be a plain file name");
  }

  testing::write_text(index, "{\"weight_map\": ");
  error = error_of_opening(dir);
  EXPECT_CONTAINS(error, index);
  EXPECT_CONTAINS(error, "invalid JSON");
}

TEST(Checkpoint, FolderWithoutWeightsNamesTheFolder) {
  const std::string dir = testing::copy_tiny_folder("ckpt-none", false);
  const std::string error = error_of_opening(dir);
  EXPECT_CONTAINS(error, dir);
  EXPECT_CONTAINS(error, "expected model.safetensors or model.safetensors.index.json");
}

TEST(Checkpoint, ExtraTensorsAreReportedUnused) {
  const std::string dir = testing::copy_tiny_folder("ckpt-extra", false);
  std::vector<TensorToWrite> tensors =
      testing::read_all_tensors(testing::tiny_dir() + "/model.safetensors");
  tensors.push_back(make_f32_tensor("audio_tower.embed_positions.weight", FloatTensor({4, 32})));
  write_safetensors(dir + "/model.safetensors", tensors);
  const Checkpoint checkpoint(dir);
  const ModelWeights weights = load_weights(checkpoint, tiny_config());
  EXPECT_EQ(weights.unused, (std::vector<std::string>{"audio_tower.embed_positions.weight"}));
}

}  // namespace
}  // namespace glmasr
