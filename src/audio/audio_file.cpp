#include "audio/audio_file.h"

#include <cmath>
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
  if (options.max_seconds <= 0 || options.raw_channels <= 0 || options.raw_sample_rate <= 0)
    return 0;
  const double frames = std::floor(options.max_seconds * options.raw_sample_rate) + 1;
  const double bytes = frames * 2 * options.raw_channels;
  return bytes >= 1e18 ? 0 : static_cast<size_t>(bytes);
}

// Standard input is whatever its first bytes say; raw PCM carries no header, so its rate must
// be given. A rate given for a recognised container is refused rather than ignored, except
// for a bare MPEG frame header, which raw PCM can begin with: there the rate says "raw".
DecodedAudio decode_standard_input(std::FILE* in, const AudioReadOptions& options) {
  const char* source = "standard input";
  const bool raw_declared = options.raw_sample_rate > 0;
  std::string bytes = read_all_bytes(in, source, raw_declared ? raw_byte_limit(options) : 0);
  const SniffedContainer container = sniff_audio_container(bytes);
  if (!container.name.empty() && (container.certain || !raw_declared)) {
    if (raw_declared && container.certain)
      fail_input(source, " holds a ", container.name,
                 " stream, which gives its own sample rate: --input-rate is for raw PCM only");
    return decode_audio_memory(bytes, source, decode_options_of(options));
  }
  if (!raw_declared)
    fail_input(source, " is not a WAV, FLAC, Ogg or MP3 stream (by its first bytes); ",
               "raw s16le PCM needs its sample rate: --input-rate HZ");
  return decode_raw_s16le(bytes, options.raw_sample_rate, options.raw_channels, source,
                          decode_options_of(options));
}

}  // namespace

Audio read_audio(const std::string& path, const AudioReadOptions& options) {
  if (path == "-") return read_audio_stream(stdin, options);
  return to_model_audio(decode_audio_file(path, decode_options_of(options)), path);
}

Audio read_audio_stream(std::FILE* in, const AudioReadOptions& options) {
  return to_model_audio(decode_standard_input(in, options), "-");
}

Audio read_audio_memory(const std::string& bytes, const std::string& name,
                        const AudioReadOptions& options) {
  return to_model_audio(decode_audio_memory(bytes, name, decode_options_of(options)), name);
}

}  // namespace glmasr
