// Cutting long audio into windows the model can read (at most 30 s each) without splitting a
// word: each cut goes to the quietest moment in the last few seconds before the limit.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace glmasr {

struct SegmenterOptions {
  int sample_rate = 16000;
  double max_segment_seconds = 30.0;  // the model's window
  // The cut is searched in [limit - search_seconds, limit]: long enough to hold a pause between
  // phrases, short enough that segments stay close to the full window.
  double search_seconds = 5.0;
  double frame_seconds = 0.025;     // short-time energy frame (hop = frame)
  double smoothing_seconds = 0.15;  // moving average over frames, so a cut lands in a pause and
                                    // not in the brief dip between two syllables
  // A segment whose every frame is below this level (dB relative to full scale, RMS) is marked
  // silent, so the caller can skip it. Kept low: skipping speech is worse than decoding silence.
  double silence_threshold_db = -60.0;
};

struct AudioSegment {
  int64_t begin = 0;  // first sample
  int64_t end = 0;    // one past the last sample
  double start_seconds = 0;
  double end_seconds = 0;
  bool silent = false;  // no frame above the silence threshold
};

// Contiguous segments covering [0, samples.size()): segments[0].begin == 0, each begin is the
// previous end, the last end is samples.size(), and none is longer than max_segment_seconds.
// Empty input gives no segments. Throws glmasr::Error for inconsistent options.
std::vector<AudioSegment> segment_audio(std::span<const float> samples,
                                        const SegmenterOptions& options = {});

}  // namespace glmasr
