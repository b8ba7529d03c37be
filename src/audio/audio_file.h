// Reading audio for the model: any file libsndfile decodes (WAV 8/16/24/32-bit integer and
// 32-bit float, FLAC, Ogg Vorbis/Opus, MP3) or raw PCM on standard input, mixed down to mono by
// averaging channels and resampled to 16 kHz with libsoxr at "HQ" quality (what librosa uses).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace glmasr {

struct AudioReadOptions {
  // For raw PCM on standard input (path "-"): the sample rate (required) and channel count.
  // Raw input is signed 16-bit little-endian, interleaved. A WAV, FLAC, Ogg or MP3 stream on
  // standard input is recognised by its first bytes and decoded as such (no rate needed).
  int raw_sample_rate = 0;
  int raw_channels = 1;
  // The longest audio accepted, in seconds; 0 accepts any length (the CLI's default). Enforced
  // from the header and while decoding, so an over-long input is refused with
  // glmasr::InputError before it is decoded in full.
  double max_seconds = 0;
};

struct Audio {
  std::vector<float> samples;  // mono, 16 kHz, nominally in [-1, 1]
  int source_sample_rate = 0;  // before resampling
  int source_channels = 0;
  std::string source;  // the path, or "-" for standard input

  double seconds() const;
};

// Decodes, mixes down and resamples. Throws glmasr::Error naming the file for missing,
// empty, truncated, unreadable or non-audio input.
Audio read_audio(const std::string& path, const AudioReadOptions& options = {});

// Standard input as read_audio("-") reads it, from `in` (the stdin fuzzer passes a memory
// stream): the container its first bytes name, else raw PCM by the raw_* options.
Audio read_audio_stream(std::FILE* in, const AudioReadOptions& options = {});

// Decodes an encoded file held in memory (an HTTP upload) the same way; `name` becomes the
// Audio's source and names the input in errors. The raw_* options do not apply.
Audio read_audio_memory(const std::string& bytes, const std::string& name,
                        const AudioReadOptions& options = {});

// Mixes interleaved frames to mono (channel mean) and resamples to 16 kHz.
std::vector<float> to_model_rate(std::vector<float> interleaved, int channels, int sample_rate);

}  // namespace glmasr
