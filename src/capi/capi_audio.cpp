// glmasr_audio_*: audio decoded to what the model takes (mono, 16 kHz), from a file, an encoded
// buffer or PCM samples.
#include <cmath>
#include <limits>

#include "capi/capi_objects.h"
#include "capi/capi_status.h"
#include "core/error.h"

using namespace glmasr;
using namespace glmasr::capi;

namespace {

// Audio beyond this is refused before the samples are copied: 24 h at 384 kHz and 64 channels
// is far past anything real, and keeps frames * channels from overflowing.
constexpr size_t kMaxSamples = size_t{1} << 40;

void check_pcm(const void* samples, size_t frames, int sample_rate, int channels) {
  if (frames > 0) require(samples, "samples");
  if (sample_rate < 1 || sample_rate > 1000000)
    fail_input("PCM audio: sample_rate expected 1..1000000 Hz, got ", sample_rate);
  if (channels < 1 || channels > 64)
    fail_input("PCM audio: channels expected 1..64, got ", channels);
  if (frames > kMaxSamples / static_cast<size_t>(channels))
    fail_input("PCM audio: ", frames, " frames of ", channels, " channels is too long");
}

glmasr_status make_audio(Audio audio, glmasr_audio** out) {
  *out = new glmasr_audio{.audio = std::move(audio)};
  return GLMASR_OK;
}

Audio pcm_audio(std::vector<float> interleaved, int sample_rate, int channels) {
  for (float sample : interleaved)
    if (!std::isfinite(sample)) fail_input("PCM audio: samples must be finite (got NaN or inf)");
  Audio audio;
  audio.source = "pcm";
  audio.source_sample_rate = sample_rate;
  audio.source_channels = channels;
  audio.samples = to_model_rate(std::move(interleaved), channels, sample_rate);
  return audio;
}

}  // namespace

extern "C" {

glmasr_status glmasr_audio_from_file(const char* path, glmasr_audio** audio) {
  return call_guarded(
      [&] {
        require(audio, "audio");
        *audio = nullptr;
        require(path, "path");
        return make_audio(read_audio(path), audio);
      },
      GLMASR_ERROR_INPUT);
}

glmasr_status glmasr_audio_from_encoded(const void* data, size_t size, const char* name,
                                        glmasr_audio** audio) {
  return call_guarded(
      [&] {
        require(audio, "audio");
        *audio = nullptr;
        if (size > 0) require(data, "data");
        const std::string bytes(static_cast<const char*>(data), size);
        return make_audio(read_audio_memory(bytes, name ? name : "buffer"), audio);
      },
      GLMASR_ERROR_INPUT);
}

glmasr_status glmasr_audio_from_f32(const float* samples, size_t frames, int sample_rate,
                                    int channels, glmasr_audio** audio) {
  return call_guarded(
      [&] {
        require(audio, "audio");
        *audio = nullptr;
        check_pcm(samples, frames, sample_rate, channels);
        const size_t n = frames * static_cast<size_t>(channels);
        return make_audio(
            pcm_audio(std::vector<float>(samples, samples + n), sample_rate, channels), audio);
      },
      GLMASR_ERROR_INPUT);
}

glmasr_status glmasr_audio_from_s16(const int16_t* samples, size_t frames, int sample_rate,
                                    int channels, glmasr_audio** audio) {
  return call_guarded(
      [&] {
        require(audio, "audio");
        *audio = nullptr;
        check_pcm(samples, frames, sample_rate, channels);
        const size_t n = frames * static_cast<size_t>(channels);
        std::vector<float> interleaved(n);
        // The scale libsndfile uses for 16-bit files, so s16 PCM equals the same WAV file.
        for (size_t i = 0; i < n; ++i) interleaved[i] = static_cast<float>(samples[i]) / 32768.0f;
        return make_audio(pcm_audio(std::move(interleaved), sample_rate, channels), audio);
      },
      GLMASR_ERROR_INPUT);
}

double glmasr_audio_seconds(const glmasr_audio* audio) {
  return audio ? audio->audio.seconds() : 0;
}

void glmasr_audio_free(glmasr_audio* audio) {
  delete audio;
}

}  // extern "C"
