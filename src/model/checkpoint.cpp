#include "model/checkpoint.h"

#include <filesystem>

#include "core/error.h"
#include "io/json_file.h"

namespace glmasr {

namespace fs = std::filesystem;

std::string to_hub_tensor_name(const std::string& file_name) {
  static const std::pair<const char*, const char*> kPrefixes[] = {
      {"model.audio_tower.", "audio_tower."},
      {"model.multi_modal_projector.", "multi_modal_projector."},
      {"model.language_model.", "language_model.model."},
      {"lm_head.", "language_model.lm_head."},
  };
  for (const auto& [from, to] : kPrefixes)
    if (file_name.rfind(from, 0) == 0) return to + file_name.substr(std::string(from).size());
  return file_name;
}

Checkpoint::Checkpoint(const std::string& dir) : dir_(dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  const std::string single_path = dir + "/model.safetensors";
  std::map<std::string, std::string> shard_of;  // tensor name in file -> shard file name
  if (fs::exists(index_path)) {
    const auto index = read_json_file(index_path);
    GLMASR_CHECK(index.contains("weight_map") && index["weight_map"].is_object(), index_path,
                 ": missing weight_map");
    for (const auto& [name, shard] : index["weight_map"].items()) {
      GLMASR_CHECK(shard.is_string(), index_path, ": weight_map entry '", name,
                   "' must name a file");
      shard_of[name] = shard.get<std::string>();
    }
    // An empty map would otherwise fall through to model.safetensors and hide the broken index.
    GLMASR_CHECK(!shard_of.empty(), index_path, ": weight_map is empty (expected tensor -> shard)");
  } else {
    GLMASR_CHECK(fs::exists(single_path), dir,
                 ": no model weights (expected model.safetensors or "
                 "model.safetensors.index.json)");
  }

  std::map<std::string, size_t> opened;  // shard file -> index into files_
  auto open_file = [&](const std::string& file_name) {
    const auto it = opened.find(file_name);
    if (it != opened.end()) return it->second;
    GLMASR_CHECK(!file_name.empty() && file_name.find('/') == std::string::npos &&
                     file_name != "." && file_name != "..",
                 index_path, ": shard '", file_name, "' must be a plain file name");
    files_.push_back(std::make_unique<SafetensorsFile>(dir + "/" + file_name));
    opened[file_name] = files_.size() - 1;
    return files_.size() - 1;
  };

  auto add = [&](const std::string& name_in_file, size_t file) {
    const std::string hub = to_hub_tensor_name(name_in_file);
    const auto [it, inserted] = index_.emplace(hub, Location{file, name_in_file});
    GLMASR_CHECK(inserted, dir, ": tensor '", hub, "' appears twice ('", it->second.name_in_file,
                 "' and '", name_in_file, "')");
  };

  if (shard_of.empty()) {
    const size_t file = open_file("model.safetensors");
    for (const auto& name : files_[file]->names()) add(name, file);
  } else {
    for (const auto& [name, shard] : shard_of) {
      const size_t file = open_file(shard);
      GLMASR_CHECK(files_[file]->contains(name), files_[file]->path(), ": tensor '", name,
                   "' listed in model.safetensors.index.json is missing");
      add(name, file);
    }
  }
}

TensorView Checkpoint::get(const std::string& hub_name) const {
  const auto it = index_.find(hub_name);
  GLMASR_CHECK(it != index_.end(), dir_, ": missing tensor '", hub_name, "'");
  return files_[it->second.file]->view(it->second.name_in_file);
}

const std::string& Checkpoint::file_of(const std::string& hub_name) const {
  const auto it = index_.find(hub_name);
  GLMASR_CHECK(it != index_.end(), dir_, ": missing tensor '", hub_name, "'");
  return files_[it->second.file]->path();
}

const std::string& Checkpoint::name_in_file(const std::string& hub_name) const {
  const auto it = index_.find(hub_name);
  GLMASR_CHECK(it != index_.end(), dir_, ": missing tensor '", hub_name, "'");
  return it->second.name_in_file;
}

std::vector<std::string> Checkpoint::file_paths() const {
  std::vector<std::string> paths;
  for (const auto& file : files_) paths.push_back(file->path());
  return paths;
}

std::vector<std::string> Checkpoint::hub_names() const {
  std::vector<std::string> names;
  for (const auto& [name, location] : index_) names.push_back(name);
  return names;
}

}  // namespace glmasr
