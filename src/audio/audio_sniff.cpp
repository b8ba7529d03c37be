#include "audio/audio_sniff.h"

namespace glmasr {

namespace {

bool starts_with(std::string_view text, std::string_view prefix, size_t at = 0) {
  return text.size() >= at + prefix.size() && text.substr(at, prefix.size()) == prefix;
}

// An MPEG audio frame header: 11 sync bits, then a version, layer, bitrate and sample rate
// that are not the reserved or "free" values.
bool is_mpeg_frame_header(std::string_view head) {
  if (head.size() < 4) return false;
  const auto b1 = static_cast<unsigned char>(head[1]), b2 = static_cast<unsigned char>(head[2]);
  const bool sync = static_cast<unsigned char>(head[0]) == 0xFF && (b1 & 0xE0) == 0xE0;
  const unsigned version = (b1 >> 3) & 3, layer = (b1 >> 1) & 3;
  const unsigned bitrate = b2 >> 4, sample_rate = (b2 >> 2) & 3;
  return sync && version != 1 && layer != 0 && bitrate != 0 && bitrate != 15 && sample_rate != 3;
}

}  // namespace

SniffedContainer sniff_audio_container(std::string_view head) {
  if ((starts_with(head, "RIFF") || starts_with(head, "RF64")) && starts_with(head, "WAVE", 8))
    return {.name = "WAV", .certain = true};
  if (starts_with(head, "fLaC")) return {.name = "FLAC", .certain = true};
  if (starts_with(head, "OggS")) return {.name = "Ogg", .certain = true};
  if (starts_with(head, "ID3")) return {.name = "MP3", .certain = true};
  if (is_mpeg_frame_header(head)) return {.name = "MP3", .certain = false};
  return {};
}

}  // namespace glmasr
