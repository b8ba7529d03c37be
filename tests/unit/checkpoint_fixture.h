// Helpers for tests that rewrite the tiny fixture checkpoint (tests/data/tiny): copy the folder,
// read every tensor as raw bytes, rename, drop, re-type or shard them, and write them back.
// Header-only so that the unit and e2e suites share it without a library.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"
#include "testing/testing.h"

namespace glmasr::testing {

inline std::string tiny_dir() {
  return data_dir() + "/tiny";
}

// Every tensor of a safetensors file as a writable copy, in the order of the file's data.
inline std::vector<TensorToWrite> read_all_tensors(const std::string& path) {
  const SafetensorsFile file(path);
  std::vector<std::pair<uint64_t, std::string>> by_offset;
  for (const auto& [name, entry] : file.entries()) by_offset.emplace_back(entry.begin, name);
  std::sort(by_offset.begin(), by_offset.end());
  std::vector<TensorToWrite> tensors;
  for (const auto& [offset, name] : by_offset) {
    const TensorView view = file.view(name);
    tensors.push_back(
        {name, view.dtype, view.shape, std::vector<std::byte>(view.data, view.data + view.nbytes)});
  }
  return tensors;
}

inline TensorToWrite& find_tensor(std::vector<TensorToWrite>& tensors, const std::string& name) {
  for (auto& tensor : tensors)
    if (tensor.name == name) return tensor;
  fail("test fixture has no tensor '", name, "'");
}

inline void remove_tensor(std::vector<TensorToWrite>& tensors, const std::string& name) {
  const auto it = std::find_if(tensors.begin(), tensors.end(),
                               [&](const TensorToWrite& t) { return t.name == name; });
  GLMASR_CHECK(it != tensors.end(), "test fixture has no tensor '", name, "'");
  tensors.erase(it);
}

// Re-encodes a BF16 tensor as F32 with the same values.
inline void convert_bf16_to_f32(TensorToWrite& tensor) {
  GLMASR_CHECK(tensor.dtype == DType::kBF16, tensor.name, ": expected a BF16 tensor");
  std::vector<std::byte> bytes(tensor.bytes.size() * 2);
  for (size_t i = 0; i < tensor.bytes.size() / 2; ++i) {
    uint16_t bits;
    std::memcpy(&bits, tensor.bytes.data() + 2 * i, 2);
    const float value = bf16_to_float(bits);
    std::memcpy(bytes.data() + 4 * i, &value, 4);
  }
  tensor.dtype = DType::kF32;
  tensor.bytes = std::move(bytes);
}

// A fresh copy of the tiny model folder. With `with_weights` false, model.safetensors is left
// out so the caller can write its own weights.
inline std::string copy_tiny_folder(const std::string& tag, bool with_weights = true) {
  namespace fs = std::filesystem;
  const std::string dir = make_temp_dir(tag);
  for (const auto& entry : fs::directory_iterator(tiny_dir())) {
    if (!with_weights && entry.path().filename() == "model.safetensors") continue;
    fs::copy_file(entry.path(), fs::path(dir) / entry.path().filename(),
                  fs::copy_options::overwrite_existing);
    fs::permissions(fs::path(dir) / entry.path().filename(), fs::perms::owner_read,
                    fs::perm_options::add);
  }
  return dir;
}

// The tiny folder's config.json as JSON, to edit and write back with write_json().
inline nlohmann::json tiny_config_json() {
  std::ifstream in(tiny_dir() + "/config.json");
  return nlohmann::json::parse(in);
}

inline void write_json(const std::string& path, const nlohmann::json& value) {
  std::ofstream out(path);
  out << value.dump(2);
  GLMASR_CHECK(out.good(), path, ": write failed");
}

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  GLMASR_CHECK(out.good(), path, ": write failed");
}

inline std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Splits `tensors` into `shards` files model-0000i-of-0000n.safetensors plus the index, as
// transformers' save_pretrained(max_shard_size=...) lays them out.
inline void write_sharded(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                          int shards) {
  nlohmann::json weight_map = nlohmann::json::object();
  const size_t per_shard = (tensors.size() + shards - 1) / shards;
  for (int s = 0; s < shards; ++s) {
    char name[64];
    std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, shards);
    const size_t begin = std::min(tensors.size(), s * per_shard);
    const size_t end = std::min(tensors.size(), begin + per_shard);
    const std::vector<TensorToWrite> part(tensors.begin() + begin, tensors.begin() + end);
    write_safetensors(dir + "/" + name, part);
    for (const auto& tensor : part) weight_map[tensor.name] = name;
  }
  write_json(dir + "/model.safetensors.index.json",
             {{"metadata", {{"total_size", 0}}}, {"weight_map", weight_map}});
}

}  // namespace glmasr::testing
