#include "cpu/cpu_engine.h"

#include <algorithm>
#include <thread>

#include "core/error.h"
#include "cpu/cpu_model.h"
#include "runtime/sampling.h"

namespace glmasr {

namespace {

class CpuEngine final : public Engine {
 public:
  explicit CpuEngine(std::unique_ptr<cpu::CpuModel> model) : model_(std::move(model)) {}

  const ModelConfig& config() const override { return model_->config(); }

  std::string describe() const override {
    return cat("cpu (float32, ", std::max(1u, std::thread::hardware_concurrency()), " threads)");
  }

  std::vector<GenerationResult> generate(const std::vector<GenerationRequest>& requests) override {
    std::vector<GenerationResult> results;
    for (const auto& request : requests) {
      try {
        results.push_back(generate_one(request));
      } catch (const Error& e) {  // one bad request must not sink the others
        GenerationResult failed;
        failed.stop = StopReason::kError;
        failed.error = e.what();
        results.push_back(std::move(failed));
      }
    }
    return results;
  }

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
    return model_->audio_embeddings(mel);
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
  GenerationResult generate_one(const GenerationRequest& request) {
    GLMASR_CHECK(request.mel, "generation request without audio features");
    GLMASR_CHECK(request.max_new_tokens > 0, "max_new_tokens must be positive, got ",
                 request.max_new_tokens);
    const ModelConfig& c = config();
    const int64_t total = static_cast<int64_t>(request.prompt_ids.size()) + request.max_new_tokens;
    GLMASR_CHECK(total <= c.decoder.max_positions, "prompt of ", request.prompt_ids.size(),
                 " tokens plus ", request.max_new_tokens, " new tokens exceeds the model's ",
                 c.decoder.max_positions, " positions");
    cpu::KvCache cache = model_->new_cache(total);
    FloatTensor logits =
        model_->decode(model_->embed(request.prompt_ids, audio_embeddings(*request.mel)), cache);
    GenerationResult result;
    while (true) {
      const GreedyChoice choice = greedy_choice(logits.data(), c.decoder.vocab_size);
      if (!accept_token(request, c.eos_token_ids, choice.token, choice.logprob, result))
        return result;
      logits = model_->decode(model_->embed({choice.token}, FloatTensor()), cache);
    }
  }

  std::unique_ptr<cpu::CpuModel> model_;
};

}  // namespace

std::unique_ptr<Engine> make_cpu_engine(const std::string& model_dir,
                                        const EngineOptions& options) {
  (void)options;
  return std::make_unique<CpuEngine>(cpu::CpuModel::load(model_dir));
}

}  // namespace glmasr
