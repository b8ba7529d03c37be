// The CPU reference GLM-ASR: float32 arithmetic on upcast weights, written stage by stage so the
// golden tests can compare every intermediate with transformers. Immutable after construction;
// per-request decoder state lives in KvCache.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "audio/mel_windows.h"
#include "core/tensor.h"
#include "engine/engine_options.h"
#include "model/config.h"
#include "model/weights.h"

namespace glmasr::cpu {

using EncoderLayer = EncoderLayerTensors<FloatTensor>;
using DecoderLayer = DecoderLayerTensors<FloatTensor>;

// Keys and values of every decoder layer for one sequence: [capacity, kv_heads, head_dim] each.
struct KvCache {
  std::vector<FloatTensor> keys, values;
  int64_t length = 0;  // positions filled
  int64_t capacity = 0;
};

class CpuModel {
 public:
  // With WeightFormat::kFP8 the decoder's projections and lm_head are replaced by their fp8
  // round trip (fp8_round_trip_rows): the weights the CUDA engine's fp8 kernels dequantize.
  CpuModel(const ModelConfig& config, const ModelWeights& weights,
           WeightFormat format = WeightFormat::kBF16);
  // Reads config.json, generation_config.json and the weights of a model folder.
  static std::unique_ptr<CpuModel> load(const std::string& model_dir,
                                        WeightFormat format = WeightFormat::kBF16);

  const ModelConfig& config() const { return config_; }

  // --- audio encoder, one window -------------------------------------------------------
  FloatTensor conv_stem(const float* mel) const;  // mel [num_mel_bins, 3000] -> [1500, H]
  void encoder_layer(int index, FloatTensor& hidden) const;  // [T, H] in place
  // conv stem, every layer, final LayerNorm: [1500, H]. Optionally returns layer 0's output.
  FloatTensor encode_window(const float* mel, FloatTensor* layer0 = nullptr) const;
  // Merge frames and run the projector: [1500, H] -> [1500 / merge, D].
  FloatTensor project(const FloatTensor& encoded) const;
  // Every window, its first kept_rows[w] rows only, concatenated in time order: [N, D].
  FloatTensor audio_embeddings(const MelWindows& mel, const std::vector<int64_t>& kept_rows) const;

  // --- text decoder ---------------------------------------------------------------------
  // Token embeddings with the audio_token_id rows replaced by `audio` rows in order: [T, D].
  FloatTensor embed(const std::vector<int32_t>& ids, const FloatTensor& audio) const;
  KvCache new_cache(int64_t capacity) const;
  // Runs rows `x` [T, D] at positions cache.length.. through the decoder, appending to the
  // cache; returns the logits of the last row [V]. Optionally returns layer 0's output [T, D].
  FloatTensor decode(const FloatTensor& x, KvCache& cache, FloatTensor* layer0 = nullptr) const;

  // Every parameter by its hub name, for tests that perturb weights on purpose.
  std::vector<std::pair<std::string, FloatTensor*>> named_parameters();

 private:
  ModelConfig config_;
  ModelTensors<FloatTensor> w_;  // float32 copies of the checkpoint's tensors
};

}  // namespace glmasr::cpu
