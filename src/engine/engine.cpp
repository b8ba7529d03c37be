#include "engine/engine.h"

#include <algorithm>

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
