// read_audio_memory: uploads decode exactly like the same bytes read from a file, and bad bytes
// fail with a message naming the upload.
#include <gtest/gtest.h>

#include <fstream>

#include "audio/audio_file.h"
#include "core/error.h"
#include "server_test_audio.h"

namespace glmasr {
namespace {

std::string message_of(const std::string& bytes, const std::string& name) {
  try {
    read_audio_memory(bytes, name);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(AudioMemory, MatchesReadingTheSameFile) {
  const std::string bytes = server::test_audio::wav_bytes(1.5, 24000);
  const std::string path = testing::make_temp_dir("audio-memory") + "/same.wav";
  std::ofstream(path, std::ios::binary) << bytes;
  const Audio from_file = read_audio(path);
  const Audio from_memory = read_audio_memory(bytes, "upload.wav");
  EXPECT_EQ(from_memory.samples, from_file.samples);
  EXPECT_EQ(from_memory.source, "upload.wav");
  EXPECT_EQ(from_memory.source_sample_rate, 24000);
  EXPECT_EQ(from_memory.source_channels, 1);
  EXPECT_NEAR(from_memory.seconds(), 1.5, 1e-3);
}

// Found by the audio fuzzer: libsndfile spun for minutes on a WAV whose LIST chunk declares more
// bytes than follow. Such chunks are refused, in memory and on disk, before libsndfile sees them.
TEST(AudioMemory, AWavChunkPastTheEndIsRefusedAtOnce) {
  std::string bytes = server::test_audio::wav_bytes(0.5, 16000);
  std::string list = "LIST";
  list += std::string("\x00\x00\x10\x00", 4);  // 1 MiB declared, 4 bytes follow
  list += "INFO";
  bytes.insert(12, list);
  EXPECT_NE(message_of(bytes, "up.wav")
                .find("audio 'up.wav' cannot be decoded: it is truncated or not valid WAV, "
                      "its chunk 'LIST' declares 1048576 bytes"),
            std::string::npos)
      << message_of(bytes, "up.wav");
  const std::string path = testing::make_temp_dir("audio-memory") + "/list.wav";
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    read_audio(path);
    ADD_FAILURE() << "read_audio took a WAV with a chunk past its end";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not valid WAV"), std::string::npos) << e.what();
  }
  // A data chunk may claim more than follows (WAVs written to pipes): still decoded.
  std::string streamed = server::test_audio::wav_bytes(0.5, 16000);
  streamed.replace(40, 4, std::string("\xff\xff\xff\xff", 4));
  EXPECT_EQ(message_of(streamed, "pipe.wav"), "");
}

// Found by the audio fuzzer: libsndfile spun for over an hour on a 936-byte WAV whose LIST chunk,
// after the audio and inside the bytes received, holds a sub-chunk declaring 4 GB. Every LIST
// (before or after the data chunk) must hold its sub-chunks, in memory and on disk.
TEST(AudioMemory, AWavListSubChunkPastTheListIsRefusedAtOnce) {
  auto list_chunk = [](const std::string& body) {
    const auto n = static_cast<uint32_t>(body.size());
    std::string chunk = "LIST";
    for (int i = 0; i < 4; ++i) chunk += static_cast<char>((n >> (8 * i)) & 0xff);
    return chunk + body;
  };
  // "INFO", then a sub-chunk of 0xffffffff bytes of which 4 follow.
  const std::string bad =
      list_chunk(std::string("INFOIART\xff\xff\xff\xff"
                             "abcd",
                             16));
  const std::string wav = server::test_audio::wav_bytes(0.5, 16000);
  std::string before = wav, after = wav;
  before.insert(12, bad);
  after += bad;
  const std::string dir = testing::make_temp_dir("audio-memory");
  for (const auto& [name, bytes] :
       {std::pair{"before.wav", before}, std::pair{"after.wav", after}}) {
    SCOPED_TRACE(name);
    const std::string message = message_of(bytes, name);
    EXPECT_NE(message.find("not valid WAV, the sub-chunk 'IART' of its LIST chunk at byte "),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("declares 4294967295 bytes and only 4 of the LIST follow"),
              std::string::npos)
        << message;
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    try {
      read_audio(path);
      ADD_FAILURE() << "read_audio took a WAV whose LIST sub-chunk runs past the LIST";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("sub-chunk 'IART'"), std::string::npos) << e.what();
    }
  }
  // A well-formed INFO list after the audio (as many editors write) is decoded as before.
  std::string tagged = wav + list_chunk(std::string("INFOIART\x05\x00\x00\x00hello\x00", 18));
  EXPECT_EQ(message_of(tagged, "tagged.wav"), "");
  EXPECT_EQ(read_audio_memory(tagged, "tagged.wav").samples,
            read_audio_memory(wav, "plain.wav").samples);
}

// Found by the audio fuzzer under UBSan: a LIST chunk of 0 bytes made the check copy 0 bytes
// from a null buffer. An empty LIST, before or after the audio, holds nothing to check.
TEST(AudioMemory, AnEmptyWavListIsNoTrouble) {
  const std::string wav = server::test_audio::wav_bytes(0.5, 16000);
  const std::string empty_list("LIST\x00\x00\x00\x00", 8);
  std::string before = wav, after = wav + empty_list;
  before.insert(12, empty_list);
  const std::string dir = testing::make_temp_dir("audio-memory");
  for (const auto& [name, bytes] :
       {std::pair{"before.wav", before}, std::pair{"after.wav", after}}) {
    SCOPED_TRACE(name);
    EXPECT_EQ(message_of(bytes, name), "");
    const std::string path = dir + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ(read_audio(path).samples, read_audio_memory(wav, "plain.wav").samples);
  }
}

TEST(AudioMemory, DecodesCompressedFormatsToo) {
  if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
  const std::string path = testing::shared_dir() + "/audio/1272-128104-0000.flac";
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(read_audio_memory(bytes, "x.flac").samples, read_audio(path).samples);
}

TEST(AudioMemory, NamesTheUploadInErrors) {
  EXPECT_NE(message_of("", "empty.wav").find("'empty.wav' is empty"), std::string::npos);
  EXPECT_NE(
      message_of("just some text, not audio", "notes.txt").find("'notes.txt' cannot be decoded"),
      std::string::npos);
  const std::string wav = server::test_audio::wav_bytes(1.0);
  EXPECT_NE(message_of(wav.substr(0, wav.size() / 2), "cut.wav").find("'cut.wav' is truncated"),
            std::string::npos)
      << message_of(wav.substr(0, wav.size() / 2), "cut.wav");
}

}  // namespace
}  // namespace glmasr
