#include "audio/resample.h"

#include <soxr.h>

#include <utility>

#include "audio/audio_file.h"
#include "audio/features.h"
#include "core/error.h"

namespace glmasr {

// Inputs are taken by value so that mono 16 kHz audio (the common case) passes through without
// a copy: an hour is 230 MB, and touching fresh pages for each copy costs about a second.
std::vector<float> mix_to_mono(std::vector<float> interleaved, int channels) {
  GLMASR_CHECK(channels >= 1, "mix_to_mono: expected at least 1 channel, got ", channels);
  GLMASR_CHECK(interleaved.size() % static_cast<size_t>(channels) == 0,
               "mix_to_mono: ", interleaved.size(), " samples do not form whole frames of ",
               channels, " channels");
  if (channels == 1) return interleaved;  // moved out: a by-value parameter
  const size_t frames = interleaved.size() / static_cast<size_t>(channels);
  std::vector<float> mono(frames);
  for (size_t frame = 0; frame < frames; ++frame) {
    // Summed in double so that the mean does not depend on channel order rounding.
    double sum = 0;
    for (int c = 0; c < channels; ++c) sum += interleaved[frame * channels + c];
    mono[frame] = static_cast<float>(sum / channels);
  }
  return mono;
}

int64_t resampled_length(int64_t n, int from_rate, int to_rate) {
  GLMASR_CHECK(from_rate > 0 && to_rate > 0, "resample: expected positive sample rates, got ",
               from_rate, " and ", to_rate);
  // n * to_rate fits easily: int64 covers ~10^18, i.e. centuries of audio at 192 kHz.
  return (n * to_rate + from_rate - 1) / from_rate;
}

std::vector<float> resample(std::vector<float> mono, int from_rate, int to_rate) {
  const int64_t out_length =
      resampled_length(static_cast<int64_t>(mono.size()), from_rate, to_rate);
  if (from_rate == to_rate || mono.empty()) return mono;  // moved out, no copy
  std::vector<float> out(static_cast<size_t>(out_length), 0.0f);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  size_t consumed = 0, produced = 0;
  // One shot over the whole signal (input end flushes the filter), as python-soxr does.
  const soxr_error_t error =
      soxr_oneshot(from_rate, to_rate, 1, mono.data(), mono.size(), &consumed, out.data(),
                   out.size(), &produced, &io, &quality, nullptr);
  GLMASR_CHECK(!error, "resampling ", from_rate, " Hz to ", to_rate, " Hz failed: ", error);
  // soxr may give a sample fewer than the rounded-up length; librosa's fix_length pads with 0.
  return out;
}

std::vector<float> to_model_rate(std::vector<float> interleaved, int channels, int sample_rate) {
  return resample(mix_to_mono(std::move(interleaved), channels), sample_rate, kSampleRate);
}

}  // namespace glmasr
