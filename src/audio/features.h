// The Whisper feature-extractor constants GLM-ASR uses (preprocessor_config.json of the model).
// They describe the front end, not the network, so they are constants rather than config fields.
#pragma once

#include <cstdint>

namespace glmasr {

inline constexpr int kSampleRate = 16000;       // Hz; everything is resampled to this
inline constexpr int kFftSize = 400;            // n_fft (25 ms)
inline constexpr int kHopLength = 160;          // 10 ms
inline constexpr int kWindowSeconds = 30;       // chunk_length
inline constexpr int64_t kWindowSamples = 480000;
inline constexpr int64_t kWindowFrames = 3000;  // mel frames per 30 s window
// The processor's max_audio_len is 655 s, which floors to 21 whole windows (630 s).
inline constexpr int kMaxWindows = 21;

// Valid mel frames of a window holding n samples: the processor's frame mask is the sample
// mask taken every 160 samples, so ceil(n / 160).
inline int64_t valid_mel_frames(int64_t window_samples) {
  return (window_samples + kHopLength - 1) / kHopLength;
}

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

}  // namespace glmasr
