#include "runtime/sampling.h"

#include <cmath>

namespace glmasr {

GreedyChoice greedy_choice(const float* logits, int64_t vocab) {
  int64_t best = 0;
  for (int64_t i = 1; i < vocab; ++i)
    if (logits[i] > logits[best]) best = i;
  double total = 0;
  for (int64_t i = 0; i < vocab; ++i)
    total += std::exp(static_cast<double>(logits[i] - logits[best]));
  return {static_cast<int32_t>(best), static_cast<float>(-std::log(total))};
}

}  // namespace glmasr
