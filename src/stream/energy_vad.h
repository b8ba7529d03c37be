// The Realtime server VAD: frame energy with hysteresis, driven by OpenAI's server_vad
// parameters. Audio is cut into 10 ms frames; a frame's level is its RMS in dBFS.
//   - A turn opens after kMinSpeechFrames consecutive frames at or above the open level,
//     -70 + 60 * threshold dBFS (threshold 0.5: -40 dBFS); it starts prefix_padding_ms before
//     the first of them (never before the end of the previous turn or the last reset).
//   - While open, frames below the close level (the open level - kHysteresisDb) are silence;
//     any frame at or above it is speech and restarts the count. silence_duration_ms of
//     consecutive silence closes the turn at the end of the frame that completes it, so a turn
//     holds its trailing silence (as OpenAI's audio_end_ms does).
// Deterministic and sample-exact: the same samples always give the same boundaries, which fall
// on 10 ms frame edges counted from the first sample (a start clamped to a reset point excepted).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace glmasr::stream {

struct VadParams {
  double threshold = 0.5;  // 0..1; higher needs louder speech
  int prefix_padding_ms = 300;
  int silence_duration_ms = 500;
};

inline constexpr int kVadFrameMs = 10;
inline constexpr int kMinSpeechFrames = 3;
inline constexpr double kHysteresisDb = 6.0;

// The level a threshold opens a turn at, in dBFS.
double vad_open_level_db(double threshold);

struct VadEvent {
  enum class Kind { kSpeechStarted, kSpeechStopped };
  Kind kind;
  int64_t sample;  // from the first sample pushed: the turn's first sample, or one past its last
};

class EnergyVad {
 public:
  // Throws glmasr::InputError for a threshold outside [0, 1] or negative durations.
  EnergyVad(VadParams params, int sample_rate);

  // Consumes PCM16 samples; returns the turn boundaries they complete, in order.
  std::vector<VadEvent> push(std::span<const int16_t> samples);
  bool in_speech() const { return in_speech_; }
  int64_t position() const { return position_; }  // samples pushed so far
  // Forgets any open turn (input_audio_buffer.clear, a manual commit): the next turn starts at
  // or after `position()`.
  void reset();

 private:
  void end_frame();

  VadParams params_;
  int frame_samples_;
  double open_level_db_;
  double close_level_db_;
  int64_t position_ = 0;
  int64_t floor_ = 0;  // a turn never starts before this sample
  double frame_energy_ = 0;
  int frame_filled_ = 0;
  bool in_speech_ = false;
  int loud_frames_ = 0;     // consecutive, while closed
  int64_t loud_start_ = 0;  // first sample of that run
  int silent_frames_ = 0;   // consecutive, while open
  std::vector<VadEvent> events_;
};

}  // namespace glmasr::stream
