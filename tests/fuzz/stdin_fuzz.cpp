// libFuzzer target for `glmasr transcribe -`: standard input recognised by its first bytes
// (audio/audio_sniff.h) and decoded as that container, or framed as raw s16le PCM by
// --input-rate / --input-channels (audio/audio_file.h, read_audio_stream), with the
// decoded-length limit in force. Input: one byte choosing the options (rate, channels, limit),
// then the bytes on standard input. Invariants besides no crash: the result is 16 kHz mono
// audio of finite samples no longer than the limit, or a glmasr::Error naming standard input;
// raw PCM keeps its declared rate and channels and yields exactly its whole frames; a rate
// given for a certain container is refused; the heap the whole read holds stays within a budget
// proportional to the input and the limit.

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>

#include "audio/audio_file.h"
#include "audio/audio_sniff.h"
#include "audio/features.h"
#include "fuzz_util.h"
#include "heap_peak.h"

namespace {

constexpr const char* kTarget = "stdin_fuzz";
// --input-rate values: none (a container is expected), common rates, the extremes accepted and
// one past them.
constexpr int kRates[8] = {0, 8000, 16000, 22050, 48000, 1, 1000000, 1000001};
constexpr int kChannels[4] = {1, 2, 3, 0};
constexpr double kMaxSeconds[4] = {1, 0.25, 3, 0.01};
// libsndfile's and libsoxr's own state besides the samples.
constexpr size_t kLibraryStateBytes = size_t{16} << 20;

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  glmasr::fuzz::install_heap_peak_hooks();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t choice = data[0];
  const glmasr::AudioReadOptions options{.raw_sample_rate = kRates[choice & 7],
                                         .raw_channels = kChannels[(choice >> 3) & 3],
                                         .max_seconds = kMaxSeconds[(choice >> 5) & 3]};
  const uint8_t* bytes = data + 1;
  const size_t count = size - 1;
  const std::string head(reinterpret_cast<const char*>(bytes), std::min<size_t>(count, 16));
  const glmasr::SniffedContainer container = glmasr::sniff_audio_container(head);
  const bool raw_declared = options.raw_sample_rate > 0;
  const bool raw = raw_declared && !container.certain;

  // fmemopen cannot open an empty buffer: an empty standard input is /dev/null.
  std::FILE* in =
      count ? fmemopen(const_cast<uint8_t*>(bytes), count, "rb") : std::fopen("/dev/null", "rb");
  if (!in) glmasr::fuzz::violated(kTarget, "cannot open the input as a stream");

  // Whatever the rate, at most the limit's worth of the fastest rate read here is decoded.
  const double top_rate = raw ? options.raw_sample_rate : 1e6;
  const double limit_samples = std::floor(options.max_seconds * top_rate) + 1;
  const double channels = raw ? std::max(1, options.raw_channels) : 256;
  const double budget = kLibraryStateBytes + 8.0 * count +
                        std::min(limit_samples * channels, 64.0 * count) * 4 * sizeof(float);
  bool decoded = false;
  glmasr::Audio audio;
  const size_t extra = glmasr::fuzz::peak_heap_of([&] {
    try {
      audio = glmasr::read_audio_stream(in, options);
      decoded = true;
    } catch (const glmasr::Error& e) {
      if (std::string(e.what()).find("standard input") == std::string::npos)
        glmasr::fuzz::violated(kTarget,
                               std::string("an error not naming standard input: ") + e.what());
    } catch (const std::exception& e) {
      glmasr::fuzz::violated(kTarget, std::string("non-glmasr exception escaped: ") + e.what());
    }
  });
  std::fclose(in);
  if (static_cast<double>(extra) > budget)
    glmasr::fuzz::violated(kTarget, "reading held " + std::to_string(extra) +
                                        " B of heap, over the budget of " +
                                        std::to_string(static_cast<size_t>(budget)) + " B");
  if (!decoded) return 0;

  if (raw_declared && container.certain)
    glmasr::fuzz::violated(kTarget, "a rate was accepted for a " + container.name + " stream");
  if (!raw_declared && container.name.empty())
    glmasr::fuzz::violated(kTarget, "raw PCM was decoded without a rate");
  if (audio.source != "-") glmasr::fuzz::violated(kTarget, "the source is not '-'");
  for (float sample : audio.samples)
    if (!std::isfinite(sample)) glmasr::fuzz::violated(kTarget, "a sample that is not finite");
  if (audio.seconds() > options.max_seconds + 0.01)
    glmasr::fuzz::violated(kTarget, "decoded " + std::to_string(audio.seconds()) +
                                        " s, past the limit of " +
                                        std::to_string(options.max_seconds) + " s");
  if (raw) {
    if (audio.source_sample_rate != options.raw_sample_rate ||
        audio.source_channels != options.raw_channels)
      glmasr::fuzz::violated(kTarget, "raw PCM lost its declared rate or channel count");
    const size_t frame_bytes = 2 * static_cast<size_t>(options.raw_channels);
    if (count % frame_bytes != 0)
      glmasr::fuzz::violated(kTarget, "raw PCM with a partial frame was accepted");
    const double expected =
        static_cast<double>(count / frame_bytes) * glmasr::kSampleRate / options.raw_sample_rate;
    if (std::abs(static_cast<double>(audio.samples.size()) - expected) > 2)
      glmasr::fuzz::violated(kTarget, std::to_string(count / frame_bytes) + " frames at " +
                                          std::to_string(options.raw_sample_rate) +
                                          " Hz resampled to " +
                                          std::to_string(audio.samples.size()) + " samples");
  }
  return 0;
}
