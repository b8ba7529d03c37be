#include "audio/resample.h"

#include <soxr.h>

#include <algorithm>
#include <memory>
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
  // libsoxr 0.1.3 reads up to 8 bytes past the end of the output it is given when that is a
  // few samples long (valgrind: an invalid read in soxr_output, 12 bytes into a 16-byte buffer;
  // it crashed the stdin fuzzer where the buffer ended a page). The buffer has slack behind
  // the samples soxr is told about, dropped at the end without a reallocation.
  constexpr size_t kSoxrReadSlack = 16;
  std::vector<float> out(static_cast<size_t>(out_length) + kSoxrReadSlack, 0.0f);
  const size_t wanted = static_cast<size_t>(out_length);
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  soxr_error_t error = nullptr;
  const std::unique_ptr<soxr, void (*)(soxr_t)> resampler(
      soxr_create(from_rate, to_rate, 1, &error, &io, &quality, nullptr), &soxr_delete);
  GLMASR_CHECK(!error && resampler, "resampling ", from_rate, " Hz to ", to_rate,
               " Hz failed: ", error ? error : "soxr_create returned nothing");
  // Fed in blocks straight into the output, not in one shot: given the whole signal, soxr
  // copies it into a buffer of its own and collects all the output in another grown by realloc
  // 8 KB at a time; on a worker thread (glibc's 64 MB arena heaps, with main.cpp's mallopt)
  // that growth made 20 minutes of 48 kHz audio touch 7.8 GB and take 17x longer. Blocks give
  // the same samples (each stage filters fixed-size blocks of its own) with small buffers.
  size_t consumed = 0, produced = 0;
  while (consumed < mono.size() && produced < wanted) {
    const size_t block = std::min(kResampleBlockSamples, mono.size() - consumed);
    size_t block_consumed = 0, block_produced = 0;
    error = soxr_process(resampler.get(), mono.data() + consumed, block, &block_consumed,
                         out.data() + produced, wanted - produced, &block_produced);
    GLMASR_CHECK(!error, "resampling ", from_rate, " Hz to ", to_rate, " Hz failed: ", error);
    GLMASR_CHECK(block_consumed > 0, "resampling ", from_rate, " Hz to ", to_rate,
                 " Hz failed: soxr took no input at sample ", consumed);
    consumed += block_consumed;
    produced += block_produced;
  }
  // No more input: flush the filters' delay into what is left of the output.
  while (produced < wanted) {
    size_t flushed = 0;
    error = soxr_process(resampler.get(), nullptr, 0, nullptr, out.data() + produced,
                         wanted - produced, &flushed);
    GLMASR_CHECK(!error, "resampling ", from_rate, " Hz to ", to_rate, " Hz failed: ", error);
    if (flushed == 0) break;
    produced += flushed;
  }
  // soxr may give a sample fewer than the rounded-up length; librosa's fix_length pads with 0.
  out.resize(wanted);
  return out;
}

std::vector<float> to_model_rate(std::vector<float> interleaved, int channels, int sample_rate) {
  return resample(mix_to_mono(std::move(interleaved), channels), sample_rate, kSampleRate);
}

}  // namespace glmasr
