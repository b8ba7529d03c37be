#include "stream/energy_vad.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace glmasr::stream {

double vad_open_level_db(double threshold) {
  return -70.0 + 60.0 * threshold;
}

EnergyVad::EnergyVad(VadParams params, int sample_rate)
    : params_(params),
      frame_samples_(sample_rate * kVadFrameMs / 1000),
      open_level_db_(vad_open_level_db(params.threshold)),
      close_level_db_(open_level_db_ - kHysteresisDb) {
  if (!(params.threshold >= 0 && params.threshold <= 1))
    throw InputError(cat("turn_detection.threshold ", params.threshold, ": expected 0 to 1"));
  if (params.prefix_padding_ms < 0 || params.prefix_padding_ms > 10000)
    throw InputError(cat("turn_detection.prefix_padding_ms ", params.prefix_padding_ms,
                         ": expected 0 to 10000"));
  if (params.silence_duration_ms < kVadFrameMs || params.silence_duration_ms > 10000)
    throw InputError(cat("turn_detection.silence_duration_ms ", params.silence_duration_ms,
                         ": expected ", kVadFrameMs, " to 10000"));
  if (frame_samples_ <= 0) throw InputError(cat("VAD sample rate ", sample_rate, " is too low"));
}

std::vector<VadEvent> EnergyVad::push(std::span<const int16_t> samples) {
  events_.clear();
  for (const int16_t sample : samples) {
    const double x = sample / 32768.0;
    frame_energy_ += x * x;
    ++position_;
    if (++frame_filled_ == frame_samples_) end_frame();
  }
  return events_;
}

void EnergyVad::end_frame() {
  const double rms = std::sqrt(frame_energy_ / frame_samples_);
  const double level_db = 20.0 * std::log10(std::max(rms, 1e-6));
  frame_energy_ = 0;
  frame_filled_ = 0;
  const int64_t frame_start = position_ - frame_samples_;
  const int64_t samples_per_ms = frame_samples_ / kVadFrameMs;
  if (!in_speech_) {
    if (level_db < open_level_db_) {
      loud_frames_ = 0;
      return;
    }
    if (loud_frames_++ == 0) loud_start_ = frame_start;
    if (loud_frames_ < kMinSpeechFrames) return;
    in_speech_ = true;
    silent_frames_ = 0;
    const int64_t start =
        std::max(floor_, loud_start_ - int64_t{params_.prefix_padding_ms} * samples_per_ms);
    events_.push_back({.kind = VadEvent::Kind::kSpeechStarted, .sample = start});
    return;
  }
  if (level_db >= close_level_db_) {
    silent_frames_ = 0;
    return;
  }
  if (++silent_frames_ * kVadFrameMs < params_.silence_duration_ms) return;
  in_speech_ = false;
  loud_frames_ = 0;
  floor_ = position_;
  events_.push_back({.kind = VadEvent::Kind::kSpeechStopped, .sample = position_});
}

void EnergyVad::reset() {
  in_speech_ = false;
  loud_frames_ = 0;
  silent_frames_ = 0;
  floor_ = position_;  // frames stay aligned to the first sample: boundaries on whole 10 ms
}

}  // namespace glmasr::stream
