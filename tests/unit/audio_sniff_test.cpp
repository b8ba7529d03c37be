// Recognising encoded audio on standard input by its first bytes (audio/audio_sniff.h).
#include "audio/audio_sniff.h"

#include <gtest/gtest.h>

#include <string>

namespace glmasr {
namespace {

std::string bytes(std::initializer_list<int> values) {
  std::string out;
  for (int v : values) out += static_cast<char>(v);
  return out;
}

TEST(AudioSniff, RecognisesEachContainerByItsMagic) {
  EXPECT_EQ(sniff_audio_container(std::string("RIFF\x24\0\0\0WAVEfmt ", 16)).name, "WAV");
  EXPECT_EQ(sniff_audio_container(std::string("RF64\xff\xff\xff\xffWAVEds64", 16)).name, "WAV");
  EXPECT_EQ(sniff_audio_container("fLaC\0\0\0\x22").name, "FLAC");
  EXPECT_EQ(sniff_audio_container("OggS\0\x02").name, "Ogg");
  const SniffedContainer tagged = sniff_audio_container("ID3\x04\0\0\0\0\0\x21");
  EXPECT_EQ(tagged.name, "MP3");
  EXPECT_TRUE(tagged.certain);
  // MPEG-1 Layer III, 128 kbit/s, 44.1 kHz: a bare frame header is recognised but not certain.
  const SniffedContainer bare = sniff_audio_container(bytes({0xFF, 0xFB, 0x90, 0x64}));
  EXPECT_EQ(bare.name, "MP3");
  EXPECT_FALSE(bare.certain);
}

TEST(AudioSniff, TakesAnythingElseForRawPcm) {
  EXPECT_EQ(sniff_audio_container(std::string(64, '\0')).name, "");            // silence
  EXPECT_EQ(sniff_audio_container(bytes({0xFF, 0xFF, 0xFF, 0xFF})).name, "");  // -1, -1
  EXPECT_EQ(sniff_audio_container("RIFF\0\0\0\0AVI ").name, "");               // RIFF, but not WAVE
  EXPECT_EQ(sniff_audio_container("fLa").name, "");                            // too short
  EXPECT_EQ(sniff_audio_container("").name, "");
  // Reserved version, reserved layer, "bad" bitrate and reserved rate are no frame header.
  for (const auto& head : {bytes({0xFF, 0xEB, 0x90, 0}), bytes({0xFF, 0xF9, 0x90, 0}),
                           bytes({0xFF, 0xFB, 0xF0, 0}), bytes({0xFF, 0xFB, 0x9C, 0})})
    EXPECT_EQ(sniff_audio_container(head).name, "");
}

}  // namespace
}  // namespace glmasr
