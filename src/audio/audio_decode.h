// Decoding to interleaved float frames at the source rate: files through libsndfile, and raw
// signed 16-bit little-endian PCM (what arrives on standard input). No mixing or resampling here.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace glmasr {

struct DecodedAudio {
  std::vector<float> interleaved;  // frames * channels samples, nominally in [-1, 1]
  int sample_rate = 0;
  int channels = 0;
  int64_t frames() const {
    return channels > 0 ? static_cast<int64_t>(interleaved.size()) / channels : 0;
  }
};

// Any format libsndfile reads (WAV, FLAC, Ogg Vorbis/Opus, MP3, ...). Integer PCM is scaled as
// libsndfile's normalised float read does (1/32768 for 16-bit). Throws glmasr::Error naming
// the file when it is missing, empty, not audio, truncated or holds no samples.
DecodedAudio decode_audio_file(const std::string& path);

// The same from bytes in memory (an HTTP upload); `name` names the input in errors.
DecodedAudio decode_audio_memory(const std::string& bytes, const std::string& name);

// Raw s16le interleaved PCM from `bytes`; `source` names the input in errors.
DecodedAudio decode_raw_s16le(const std::string& bytes, int sample_rate, int channels,
                              const std::string& source);

// Reads a whole stream (standard input) into memory; `source` names it in errors.
std::string read_all_bytes(std::FILE* in, const std::string& source);

}  // namespace glmasr
