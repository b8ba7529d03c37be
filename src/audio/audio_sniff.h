// Recognising an encoded audio stream by its first bytes, for standard input, which has no file
// name to go by: a WAV, FLAC, Ogg or MP3 piped in is decoded as that container, anything else
// is taken for raw PCM.
#pragma once

#include <string>
#include <string_view>

namespace glmasr {

struct SniffedContainer {
  std::string name;      // "WAV", "FLAC", "Ogg", "MP3"; empty: none recognised
  bool certain = false;  // a magic string; false for a bare MPEG frame header (no ID3 tag),
                         // two bytes that raw 16-bit PCM can also begin with
};

SniffedContainer sniff_audio_container(std::string_view head);

}  // namespace glmasr
