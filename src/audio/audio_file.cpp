#include "audio/audio_file.h"

#include <cstdio>
#include <utility>

#include "audio/audio_decode.h"
#include "audio/features.h"
#include "audio/resample.h"
#include "core/error.h"

namespace glmasr {

double Audio::seconds() const {
  return static_cast<double>(samples.size()) / kSampleRate;
}

namespace {

// Decoded audio as the model takes it: mono at 16 kHz, with where it came from.
Audio to_model_audio(DecodedAudio decoded, const std::string& source) {
  Audio audio;
  audio.source = source;
  audio.source_sample_rate = decoded.sample_rate;
  audio.source_channels = decoded.channels;
  audio.samples =
      to_model_rate(std::move(decoded.interleaved), decoded.channels, decoded.sample_rate);
  return audio;
}

}  // namespace

Audio read_audio(const std::string& path, const AudioReadOptions& options) {
  DecodedAudio decoded;
  if (path == "-") {
    // Checked before reading so that a missing rate does not first wait for all of stdin.
    GLMASR_CHECK(options.raw_sample_rate > 0,
                 "raw PCM from standard input needs its sample rate (--input-rate HZ)");
    decoded = decode_raw_s16le(read_all_bytes(stdin, "standard input"), options.raw_sample_rate,
                               options.raw_channels, "standard input");
  } else {
    decoded = decode_audio_file(path);
  }
  return to_model_audio(std::move(decoded), path);
}

Audio read_audio_memory(const std::string& bytes, const std::string& name) {
  return to_model_audio(decode_audio_memory(bytes, name), name);
}

}  // namespace glmasr
