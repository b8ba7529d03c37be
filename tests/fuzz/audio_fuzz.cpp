// libFuzzer target for decoding uploads (audio/audio_decode.h) with the decoded-length limit in
// force, as the server decodes them. Besides crashes it fails when memory passes a budget
// proportional to the limit: the heap the whole decode holds at once (libsndfile's state
// included, measured through the sanitizer allocator's hooks) and the decoder's own sample
// buffers (peak_decode_bytes) are both checked against what the header's rate allows.

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <string>

#include "audio/audio_decode.h"
#include "fuzz_util.h"
#include "heap_peak.h"

namespace {

constexpr const char* kTarget = "audio_fuzz";
constexpr double kMaxSeconds = 5;
// libsndfile's own state (FLAC frames, Vorbis/Opus/MPEG decoders) besides the samples.
constexpr size_t kDecoderStateBytes = size_t{8} << 20;

// What a server reserves for one upload of this rate and channel count before decoding: the
// mono samples the limit allows, three times (a growing buffer holds old and new storage), plus
// the decoder's blocks and state.
size_t budget_for(int sample_rate) {
  const double limit_samples = std::floor(kMaxSeconds * sample_rate) + 1;
  return static_cast<size_t>(3 * limit_samples * sizeof(float)) + kDecoderStateBytes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  glmasr::fuzz::install_heap_peak_hooks();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  int sample_rate = 0;
  glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
    const glmasr::AudioInfo info = glmasr::probe_audio_memory(data, size);
    if (info.sample_rate <= 0 || info.channels <= 0)
      glmasr::fuzz::violated(kTarget, "probe accepted a rate or channel count out of range");
    sample_rate = info.sample_rate;
  });
  if (sample_rate == 0) return 0;  // the decoder sees the same header: it would refuse it too

  const size_t budget = budget_for(sample_rate);
  size_t peak_samples = 0;
  int64_t decoded_frames = 0;
  const size_t extra = glmasr::fuzz::peak_heap_of([&] {
    glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
      const glmasr::DecodedAudio audio = glmasr::decode_audio_memory(
          data, size, "fuzz",
          {.max_seconds = kMaxSeconds, .mix_to_mono = true, .peak_decode_bytes = &peak_samples});
      if (audio.channels != 1 || audio.sample_rate != sample_rate)
        glmasr::fuzz::violated(kTarget, "decoded layout differs from the probed header");
      decoded_frames = audio.frames();
    });
  });
  if (peak_samples > budget)
    glmasr::fuzz::violated(kTarget, "sample buffers " + std::to_string(peak_samples) +
                                        " B over the budget of " + std::to_string(budget) + " B");
  if (extra > budget)
    glmasr::fuzz::violated(kTarget, "decoding held " + std::to_string(extra) +
                                        " B of heap, over the budget of " + std::to_string(budget) +
                                        " B");
  if (decoded_frames > static_cast<int64_t>(std::floor(kMaxSeconds * sample_rate)))
    glmasr::fuzz::violated(kTarget, "decoded past the length limit");
  return 0;
}
