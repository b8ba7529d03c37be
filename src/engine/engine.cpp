#include "engine/engine.h"

#include <algorithm>

#include "core/error.h"

namespace glmasr {

bool accept_token(const GenerationRequest& request, const std::vector<int>& eos_ids, int32_t token,
                  float logprob, GenerationResult& result) {
  if (std::find(eos_ids.begin(), eos_ids.end(), token) != eos_ids.end()) {
    result.stop = StopReason::kEos;
    return false;
  }
  result.tokens.push_back(token);
  result.logprobs.push_back(logprob);
  if (request.on_token && !request.on_token(token)) {
    result.stop = StopReason::kStopped;
    return false;
  }
  if (static_cast<int>(result.tokens.size()) >= request.max_new_tokens) {
    result.stop = StopReason::kLength;
    return false;
  }
  return true;
}

void Engine::launch_step(const std::vector<StepInput>& batch) {
  GLMASR_CHECK(launched_.size() < 2, "decoding step launched with two steps not collected");
  std::vector<StepInput> known = batch;
  for (StepInput& input : known) {
    if (input.follows < 0) continue;
    GLMASR_CHECK(input.follows < static_cast<int>(last_launched_.size()),
                 "decoding step: a row follows row ", input.follows,
                 " of the step before, which has ", last_launched_.size());
    input.token = last_launched_[input.follows].token;
    input.follows = -1;
  }
  last_launched_ = step(known);
  launched_.push_back(last_launched_);
}

std::vector<TokenChoice> Engine::collect_step() {
  GLMASR_CHECK(!launched_.empty(), "decoding step collected but none was launched");
  std::vector<TokenChoice> chosen = std::move(launched_.front());
  launched_.pop_front();
  return chosen;
}

void Engine::discard_steps() {
  launched_.clear();
  last_launched_.clear();
}

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kEos:
      return "eos";
    case StopReason::kLength:
      return "length";
    case StopReason::kStopped:
      return "stopped";
    case StopReason::kCancelled:
      return "cancelled";
    case StopReason::kError:
      return "error";
  }
  return "?";
}

}  // namespace glmasr
