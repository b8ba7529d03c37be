#include "audio/audio_file.h"

#include <cstdio>
#include <utility>

#include "audio/audio_decode.h"
#include "audio/audio_sniff.h"
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

// Standard input is whatever its first bytes say; raw PCM carries no header, so its rate must
// be given. A rate given for a recognised container is refused rather than ignored, except
// for a bare MPEG frame header, which raw PCM can begin with: there the rate says "raw".
DecodedAudio decode_standard_input(const AudioReadOptions& options) {
  const char* source = "standard input";
  std::string bytes = read_all_bytes(stdin, source);
  const SniffedContainer container = sniff_audio_container(bytes);
  const bool raw_declared = options.raw_sample_rate > 0;
  if (!container.name.empty() && (container.certain || !raw_declared)) {
    if (raw_declared && container.certain)
      fail_input(source, " holds a ", container.name,
                 " stream, which gives its own sample rate: --input-rate is for raw PCM only");
    return decode_audio_memory(bytes, source);
  }
  if (!raw_declared)
    fail_input(source, " is not a WAV, FLAC, Ogg or MP3 stream (by its first bytes); ",
               "raw s16le PCM needs its sample rate: --input-rate HZ");
  return decode_raw_s16le(bytes, options.raw_sample_rate, options.raw_channels, source);
}

}  // namespace

Audio read_audio(const std::string& path, const AudioReadOptions& options) {
  DecodedAudio decoded;
  if (path == "-") {
    decoded = decode_standard_input(options);
  } else {
    decoded = decode_audio_file(path);
  }
  return to_model_audio(std::move(decoded), path);
}

Audio read_audio_memory(const std::string& bytes, const std::string& name) {
  return to_model_audio(decode_audio_memory(bytes, name), name);
}

}  // namespace glmasr
