#include "audio/audio_file.h"

#include <cmath>
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

// Decoding mixes down block by block, so only mono audio is ever held whole before resampling.
DecodeOptions decode_options_of(const AudioReadOptions& options) {
  return DecodeOptions{.max_seconds = options.max_seconds, .mix_to_mono = true};
}

// Decoded mono audio as the model takes it: at 16 kHz, with where it came from.
Audio to_model_audio(DecodedAudio decoded, const std::string& source) {
  Audio audio;
  audio.source = source;
  audio.source_sample_rate = decoded.sample_rate;
  audio.source_channels = decoded.source_channels;
  audio.samples =
      to_model_rate(std::move(decoded.interleaved), decoded.channels, decoded.sample_rate);
  return audio;
}

// Enough bytes of raw PCM to pass the limit by one frame (0: no limit).
size_t raw_byte_limit(const AudioReadOptions& options) {
  if (options.max_seconds <= 0 || options.raw_channels <= 0) return 0;
  const double frames = std::floor(options.max_seconds * options.raw_sample_rate) + 1;
  const double bytes = frames * 2 * options.raw_channels;
  return bytes >= 1e18 ? 0 : static_cast<size_t>(bytes);
}

}  // namespace

Audio read_audio(const std::string& path, const AudioReadOptions& options) {
  DecodedAudio decoded;
  if (path == "-") {
    // Checked before reading so that a missing rate does not first wait for all of stdin.
    GLMASR_CHECK(options.raw_sample_rate > 0,
                 "raw PCM from standard input needs its sample rate (--input-rate HZ)");
    decoded = decode_raw_s16le(read_all_bytes(stdin, "standard input", raw_byte_limit(options)),
                               options.raw_sample_rate, options.raw_channels, "standard input",
                               decode_options_of(options));
  } else {
    decoded = decode_audio_file(path, decode_options_of(options));
  }
  return to_model_audio(std::move(decoded), path);
}

Audio read_audio_memory(const std::string& bytes, const std::string& name,
                        const AudioReadOptions& options) {
  return to_model_audio(decode_audio_memory(bytes, name, decode_options_of(options)), name);
}

}  // namespace glmasr
