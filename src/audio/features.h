// The Whisper feature-extractor constants GLM-ASR uses (preprocessor_config.json of the model).
// They describe the front end, not the network, so they are constants rather than config fields.
#pragma once

#include <cstdint>

namespace glmasr {

inline constexpr int kSampleRate = 16000;  // Hz; everything is resampled to this
inline constexpr int kFftSize = 400;       // n_fft (25 ms)
inline constexpr int kHopLength = 160;     // 10 ms
inline constexpr int kWindowSeconds = 30;  // chunk_length
inline constexpr int64_t kWindowSamples = 480000;
inline constexpr int64_t kWindowFrames = 3000;  // mel frames per 30 s window
// The processor's max_audio_len is 655 s, which floors to 21 whole windows (630 s).
inline constexpr int kMaxWindows = 21;

// Valid mel frames of a window holding n samples: the processor's frame mask is the sample
// mask taken every 160 samples, so ceil(n / 160).
inline int64_t valid_mel_frames(int64_t window_samples) {
  return (window_samples + kHopLength - 1) / kHopLength;
}

}  // namespace glmasr
