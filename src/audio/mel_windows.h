// The encoder's input for one sequence: 30 s log-mel windows and how much of each is audio.
// Its own header so that the engine seam needs no feature extractor.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace glmasr {

struct MelWindows {
  FloatTensor features;               // [windows, num_mel_bins, 3000]
  std::vector<int64_t> valid_frames;  // per window: ceil(samples_in_window / 160)
  int64_t windows() const { return static_cast<int64_t>(valid_frames.size()); }
};

}  // namespace glmasr
