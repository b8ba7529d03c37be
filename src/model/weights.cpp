#include "model/weights.h"

#include <set>

#include "core/error.h"

namespace glmasr {

namespace {

// Fetches tensors by hub name, checking shape and dtype and remembering what was used.
class WeightReader {
 public:
  WeightReader(const Checkpoint& checkpoint, const ModelConfig& config)
      : checkpoint_(checkpoint), config_(config) {}

  TensorView get(const std::string& name, const Shape& shape) {
    used_.insert(name);
    GLMASR_CHECK(checkpoint_.contains(name), checkpoint_.dir(), ": missing tensor '", name,
                 "' (expected shape ", shape_str(shape), " from ", config_.source, ")");
    const TensorView view = checkpoint_.get(name);
    GLMASR_CHECK(view.shape == shape, checkpoint_.file_of(name), ": tensor '", name, "' has shape ",
                 shape_str(view.shape), ", expected ", shape_str(shape), " from ", config_.source);
    const bool is_float =
        view.dtype == DType::kBF16 || view.dtype == DType::kF16 || view.dtype == DType::kF32;
    GLMASR_CHECK(is_float, checkpoint_.file_of(name), ": tensor '", name, "' has dtype ",
                 dtype_name(view.dtype), ", expected a float type (BF16, F16 or F32)");
    GLMASR_CHECK(!config_.has_weight_dtype || view.dtype == config_.weight_dtype,
                 checkpoint_.file_of(name), ": tensor '", name, "' has dtype ",
                 dtype_name(view.dtype), ", expected ", dtype_name(config_.weight_dtype),
                 " as config.json says");
    return view;
  }

  bool has(const std::string& name) const { return checkpoint_.contains(name); }

  std::vector<std::string> unused() const {
    std::vector<std::string> out;
    for (const auto& name : checkpoint_.hub_names())
      if (!used_.count(name)) out.push_back(name);
    return out;
  }

 private:
  const Checkpoint& checkpoint_;
  const ModelConfig& config_;
  std::set<std::string> used_;
};

}  // namespace

ModelWeights load_weights(const Checkpoint& checkpoint, const ModelConfig& config) {
  WeightReader reader(checkpoint, config);
  ModelWeights w;
  w.encoder_layers.resize(config.encoder.num_layers);
  w.decoder_layers.resize(config.decoder.num_layers);
  for_each_tensor(w, config, [&](const std::string& name, const Shape& shape, TensorView& view) {
    // The stored lm_head wins; only a file without one falls back to the tied embedding.
    if (name == kLmHeadName && !reader.has(name)) {
      view = w.embed_tokens;
      w.lm_head_is_embedding = true;
      return;
    }
    view = reader.get(name, shape);
  });
  w.unused = reader.unused();
  return w;
}

}  // namespace glmasr
