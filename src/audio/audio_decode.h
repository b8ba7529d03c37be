// Decoding to float frames at the source rate: files through libsndfile, and raw signed 16-bit
// little-endian PCM (what arrives on standard input). No resampling here; the optional mix-down
// happens block by block while decoding so that multi-channel audio is never held interleaved.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace glmasr {

struct DecodeOptions {
  // The longest audio accepted, in seconds of the source; 0 accepts any length. Checked against
  // the container's header before anything large is allocated, and again while decoding (headers
  // lie or give no length: MP3, streamed FLAC), so at most this much is ever decoded.
  double max_seconds = 0;
  // Average the channels of each decoded block (librosa's to_mono) instead of returning
  // interleaved frames.
  bool mix_to_mono = false;
  // When set, receives the most bytes the decoder's own sample buffers held at once (the
  // output, the block buffers, and the old and new storage while the output grows), also when
  // decoding throws: what a memory budget must cover besides libsndfile's state.
  size_t* peak_decode_bytes = nullptr;
};

struct DecodedAudio {
  std::vector<float> interleaved;  // frames * channels samples, nominally in [-1, 1]
  int sample_rate = 0;
  int channels = 0;         // of `interleaved`: 1 after a mix-down
  int source_channels = 0;  // of the input
  int64_t frames() const {
    return channels > 0 ? static_cast<int64_t>(interleaved.size()) / channels : 0;
  }
};

// What a container's header says, read without decoding (a server reserves a memory budget from
// it). frames is -1 where the header gives no length or one that cannot be trusted.
struct AudioInfo {
  int64_t frames = -1;
  int sample_rate = 0;
  int channels = 0;
  std::string
      format;  // libsndfile's name of the container, e.g. "FLAC (Free Lossless Audio Codec)"
};

// Any format libsndfile reads (WAV, FLAC, Ogg Vorbis/Opus, MP3, ...). Integer PCM is scaled as
// libsndfile's normalised float read does (1/32768 for 16-bit). Throws glmasr::Error naming
// the file when it is missing, empty, not audio, truncated or holds no samples, and
// glmasr::InputError when it is longer than options.max_seconds.
DecodedAudio decode_audio_file(const std::string& path, const DecodeOptions& options = {});

// The same from bytes in memory (an HTTP upload); `name` names the input in errors.
DecodedAudio decode_audio_memory(const void* data, size_t size, const std::string& name,
                                 const DecodeOptions& options = {});
DecodedAudio decode_audio_memory(const std::string& bytes, const std::string& name,
                                 const DecodeOptions& options = {});

// The header of encoded audio in memory. Throws glmasr::InputError when it is not audio
// libsndfile reads or its rate or channel count is out of range.
AudioInfo probe_audio_memory(const void* data, size_t size);

// Raw s16le interleaved PCM from `bytes`; `source` names the input in errors.
DecodedAudio decode_raw_s16le(const std::string& bytes, int sample_rate, int channels,
                              const std::string& source, const DecodeOptions& options = {});

// Reads a whole stream (standard input) into memory; `source` names it in errors. With a
// `max_bytes` (0: no limit) it stops after max_bytes + 1 bytes, so that the caller can tell an
// over-long stream without holding it.
std::string read_all_bytes(std::FILE* in, const std::string& source, size_t max_bytes = 0);

}  // namespace glmasr
