// How many audio tokens (projector rows) the network keeps for a window: a fact of the encoder's
// convolutions and the projector's frame merge, so it lives with the model. The planner decides
// each window's kept rows with this and puts them in the request; engines take them as given.
#pragma once

#include <cstdint>
#include <vector>

namespace glmasr {

// Audio tokens the model keeps for a window with `frames` valid mel frames: conv1 (k3 s1 p1)
// keeps the length, conv2 (k3 s2 p1) halves it rounding up, then `merge_factor` frames make one
// token; Python floor division, so windows of fewer than merge_factor frames give 0 tokens.
inline int64_t audio_tokens_for_frames(int64_t frames, int64_t merge_factor) {
  if (frames <= 0) return 0;
  const int64_t after_conv2 = (frames - 1) / 2 + 1;
  const int64_t numerator = after_conv2 - merge_factor;
  const int64_t floor_div =
      numerator >= 0 ? numerator / merge_factor : -((-numerator + merge_factor - 1) / merge_factor);
  return floor_div + 1;
}

// The kept rows of each window, given each window's valid mel frames.
inline std::vector<int64_t> audio_rows_per_window(const std::vector<int64_t>& valid_frames,
                                                  int64_t merge_factor) {
  std::vector<int64_t> rows;
  rows.reserve(valid_frames.size());
  for (int64_t frames : valid_frames) rows.push_back(audio_tokens_for_frames(frames, merge_factor));
  return rows;
}

}  // namespace glmasr
