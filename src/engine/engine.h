// The engine seam: everything above it (the transcription pipeline, the CLI, the server) is the
// same for the CPU reference and the CUDA engine; everything below it is device-specific.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audio/mel.h"
#include "core/tensor.h"
#include "model/config.h"

namespace glmasr {

// One sequence to decode: its encoder input and its prompt, whose audio_token_id placeholders
// receive the kept projector rows of all its windows in order.
struct GenerationRequest {
  const MelWindows* mel = nullptr;
  std::vector<int32_t> prompt_ids;
  int max_new_tokens = 0;
  // Called with each generated token that is not a stop token; returning false ends the
  // sequence there (the loop guard). May be empty.
  std::function<bool(int32_t token)> on_token;
};

enum class StopReason { kEos, kLength, kStopped, kError };
const char* stop_reason_name(StopReason reason);  // "eos", "length", "stopped", "error"

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids, the stop token excluded
  std::vector<float> logprobs;  // log-softmax of each token in `tokens`
  StopReason stop = StopReason::kLength;
  std::string error;  // set when stop == kError: this request failed, the others did not
};

// The stop rules every engine applies to a chosen token: an eos id ends the sequence (and is not
// recorded), otherwise the token is recorded, then on_token may stop it, then max_new_tokens.
// Returns true when the sequence goes on.
bool accept_token(const GenerationRequest& request, const std::vector<int>& eos_ids, int32_t token,
                  float logprob, GenerationResult& result);

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  // "cpu (float32, 2 threads)" / "cuda bf16 on NVIDIA H100 80GB HBM3"
  virtual std::string describe() const = 0;

  // Greedy decoding of every request. Engines may batch them (the CUDA engine decodes them
  // together with continuous batching); results come back in request order.
  virtual std::vector<GenerationResult> generate(
      const std::vector<GenerationRequest>& requests) = 0;

  // Stage outputs for parity checks against a reference dump, as float32 on the host.
  virtual FloatTensor encoder_output(const MelWindows& mel) = 0;    // [W, 1500, H]
  virtual FloatTensor audio_embeddings(const MelWindows& mel) = 0;  // [N, D] kept rows
  // Prefill `prompt_ids`, then feed `forced` one token at a time: row 0 holds the logits after
  // the prompt, row s those after forced[s-1]. [forced.size() + 1, V]
  virtual FloatTensor teacher_forced_logits(const MelWindows& mel,
                                            const std::vector<int32_t>& prompt_ids,
                                            const std::vector<int32_t>& forced) = 0;
};

}  // namespace glmasr
