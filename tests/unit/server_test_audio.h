// Encoded audio in memory for the server's unit tests (what an upload carries).
#pragma once

#include <sndfile.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "testing/testing.h"

namespace glmasr::server::test_audio {

// A 16-bit WAV of `seconds` of a 440 Hz tone at `rate`, as file bytes.
inline std::string wav_bytes(double seconds, int rate = 16000) {
  const std::string path = testing::make_temp_dir("server-wav") + "/tone.wav";
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  std::vector<float> samples(static_cast<size_t>(seconds * rate));
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = 0.5f * static_cast<float>(std::sin(2 * M_PI * 440.0 * i / rate));
  sf_write_float(file, samples.data(), static_cast<sf_count_t>(samples.size()));
  sf_close(file);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

}  // namespace glmasr::server::test_audio
