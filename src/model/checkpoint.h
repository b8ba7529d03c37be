// The tensors of a model folder: one model.safetensors, or shards listed by
// model.safetensors.index.json. Names are normalised to the hub's layout (spec section 2), so
// the transformers-5 layout (model.audio_tower.*, model.language_model.*, lm_head.*) reads the
// same.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "io/safetensors.h"

namespace glmasr {

// transformers-5 key -> hub key; hub keys pass through unchanged.
std::string to_hub_tensor_name(const std::string& file_name);

class Checkpoint {
 public:
  // Opens dir/model.safetensors.index.json (sharded) or dir/model.safetensors. Throws naming the
  // folder when neither exists, and naming the shard for unreadable or inconsistent files.
  explicit Checkpoint(const std::string& dir);

  const std::string& dir() const { return dir_; }
  bool contains(const std::string& hub_name) const { return index_.count(hub_name) != 0; }
  // Throws "<dir>: missing tensor '<name>'" when absent.
  TensorView get(const std::string& hub_name) const;
  // The file a tensor lives in (for messages).
  const std::string& file_of(const std::string& hub_name) const;
  std::vector<std::string> hub_names() const;
  // The key a tensor has in its file (differs from the hub name in the transformers-5 layout).
  const std::string& name_in_file(const std::string& hub_name) const;
  // Every safetensors file opened, in the order they were opened.
  std::vector<std::string> file_paths() const;

 private:
  struct Location {
    size_t file;
    std::string name_in_file;
  };

  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Location> index_;
};

}  // namespace glmasr
