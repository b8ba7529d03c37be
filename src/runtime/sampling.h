// Greedy choice over host logits, with the chosen token's log-probability.
#pragma once

#include <cstdint>

namespace glmasr {

struct GreedyChoice {
  int32_t token = 0;
  float logprob = 0;  // log-softmax of the chosen token
};

// Ties resolve to the lowest index, as torch.argmax does.
GreedyChoice greedy_choice(const float* logits, int64_t vocab);

}  // namespace glmasr
