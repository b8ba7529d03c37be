#include "cpu/cpu_engine.h"

#include <algorithm>
#include <thread>

#include "core/error.h"
#include "cpu/cpu_model.h"
#include "model/audio_tokens.h"
#include "runtime/sampling.h"

namespace glmasr {

namespace {

// The reference engine behind the same step interface as the GPU: each slot holds one
// sequence's float32 KV cache (allocated at admission for exactly the positions it reserves),
// and a step runs the sequences one after another.
class CpuEngine final : public Engine {
 public:
  // `positions` caps a sequence's length like the GPU's slot capacity (0: the model's).
  CpuEngine(std::unique_ptr<cpu::CpuModel> model, int slots, int positions, WeightFormat weights)
      : model_(std::move(model)),
        weights_(weights),
        caches_(static_cast<size_t>(std::max(1, slots))),
        positions_(positions > 0 ? std::min(positions, model_->config().decoder.max_positions)
                                 : model_->config().decoder.max_positions) {}

  const ModelConfig& config() const override { return model_->config(); }

  std::string describe() const override {
    return cat("cpu (float32", weights_ == WeightFormat::kFP8 ? ", fp8 decoder weights" : "", ", ",
               std::max(1u, std::thread::hardware_concurrency()), " threads)");
  }

  int kv_slots() const override { return static_cast<int>(caches_.size()); }
  int kv_positions() const override { return positions_; }

  std::vector<AdmissionResult> admit(const std::vector<SequenceAdmission>& admissions) override {
    std::vector<AdmissionResult> results(admissions.size());
    for (size_t i = 0; i < admissions.size(); ++i) {
      try {
        results[i].first = prefill(admissions[i].slot, *admissions[i].request);
      } catch (const Error& e) {  // one bad request must not sink the others
        caches_.at(admissions[i].slot).reset();
        results[i].error = e.what();
      }
    }
    return results;
  }

  std::vector<TokenChoice> step(const std::vector<StepInput>& batch) override {
    std::vector<TokenChoice> chosen;
    chosen.reserve(batch.size());
    for (const StepInput& s : batch) {
      cpu::KvCache& cache = cache_of(s.slot);
      GLMASR_CHECK(cache.length == s.position, "cpu step: slot ", s.slot, " holds ", cache.length,
                   " positions, the step feeds position ", s.position);
      chosen.push_back(choose(model_->decode(model_->embed({s.token}, FloatTensor()), cache)));
    }
    return chosen;
  }

  void release(int slot) override { caches_.at(slot).reset(); }

  FloatTensor encoder_output(const MelWindows& mel) override {
    std::vector<float> values;
    Shape shape{mel.windows(), 0, 0};
    const int64_t window_size = mel.features.numel() / std::max<int64_t>(1, mel.windows());
    for (int64_t w = 0; w < mel.windows(); ++w) {
      const FloatTensor encoded = model_->encode_window(mel.features.data() + w * window_size);
      shape[1] = encoded.dim(0);
      shape[2] = encoded.dim(1);
      values.insert(values.end(), encoded.values().begin(), encoded.values().end());
    }
    return FloatTensor(shape, std::move(values));
  }

  FloatTensor audio_embeddings(const MelWindows& mel) override {
    return model_->audio_embeddings(
        mel, audio_rows_per_window(mel.valid_frames, config().encoder.merge_factor));
  }

  FloatTensor teacher_forced_logits(const MelWindows& mel, const std::vector<int32_t>& prompt_ids,
                                    const std::vector<int32_t>& forced) override {
    const int64_t V = config().decoder.vocab_size;
    cpu::KvCache cache = model_->new_cache(static_cast<int64_t>(prompt_ids.size() + forced.size()));
    FloatTensor out({static_cast<int64_t>(forced.size()) + 1, V});
    FloatTensor logits = model_->decode(model_->embed(prompt_ids, audio_embeddings(mel)), cache);
    std::copy(logits.data(), logits.data() + V, out.data());
    for (size_t s = 0; s < forced.size(); ++s) {
      logits = model_->decode(model_->embed({forced[s]}, FloatTensor()), cache);
      std::copy(logits.data(), logits.data() + V, out.data() + (s + 1) * V);
    }
    return out;
  }

 private:
  TokenChoice choose(const FloatTensor& logits) const {
    const GreedyChoice choice = greedy_choice(logits.data(), config().decoder.vocab_size);
    return {choice.token, choice.logprob};
  }

  cpu::KvCache& cache_of(int slot) {
    GLMASR_CHECK(slot >= 0 && slot < kv_slots() && caches_[slot], "cpu engine: slot ", slot,
                 " holds no sequence");
    return *caches_[slot];
  }

  TokenChoice prefill(int slot, const GenerationRequest& request) {
    GLMASR_CHECK(slot >= 0 && slot < kv_slots(), "cpu engine: expected a slot in 0..",
                 kv_slots() - 1, ", got ", slot);
    const int64_t total = std::min<int64_t>(
        kv_positions(), static_cast<int64_t>(request.prompt_ids.size()) + request.max_new_tokens);
    caches_[slot] = std::make_unique<cpu::KvCache>(model_->new_cache(total));
    const FloatTensor audio = model_->audio_embeddings(*request.mel, request.audio_rows);
    return choose(model_->decode(model_->embed(request.prompt_ids, audio), *caches_[slot]));
  }

  std::unique_ptr<cpu::CpuModel> model_;
  WeightFormat weights_;
  std::vector<std::unique_ptr<cpu::KvCache>> caches_;  // per slot; null while free
  int positions_;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const std::string& model_dir,
                                        const EngineOptions& options) {
  return std::make_unique<CpuEngine>(cpu::CpuModel::load(model_dir, options.weights),
                                     options.max_batch, options.max_sequence, options.weights);
}

}  // namespace glmasr
