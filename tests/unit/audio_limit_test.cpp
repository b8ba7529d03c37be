// The decoded-length limit: an over-long input is refused from its header before anything large
// is allocated, and while decoding when the header lies or gives no length, with the decoder's
// memory bounded by the limit (the "201 KB FLAC bomb" of issue 10). Also the header probe, the
// mix-down while decoding, and hostile bytes.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "audio/audio_decode.h"
#include "audio/audio_file.h"
#include "audio/resample.h"
#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

// `seconds` of a quiet tone (or silence) at `rate`, written by libsndfile in `format`, as bytes.
// Written block by block, so an hours-long file costs no memory here either.
std::string encoded_audio(double seconds, int rate, int channels, int format,
                          double amplitude = 0.25) {
  const std::string path = testing::make_temp_dir("audio-limit") + "/audio";
  SF_INFO info{.samplerate = rate, .channels = channels, .format = format};
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  EXPECT_NE(file, nullptr) << sf_strerror(nullptr);
  if (!file) return {};
  const auto frames = static_cast<int64_t>(seconds * rate);
  std::vector<float> block(static_cast<size_t>(8192 * channels));
  for (int64_t done = 0; done < frames;) {
    const int64_t n = std::min<int64_t>(8192, frames - done);
    for (int64_t i = 0; i < n * channels; ++i)
      block[i] = static_cast<float>(amplitude * std::sin(0.05 * (done * channels + i)));
    sf_writef_float(file, block.data(), n);
    done += n;
  }
  sf_close(file);
  return file_bytes(path);
}

// The 201 KB bomb of issue 10: 8000 s of silence at 8 kHz, 16-bit FLAC.
const std::string& flac_bomb() {
  static const std::string bytes =
      encoded_audio(8000, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 0.0);
  return bytes;
}

// FLAC's STREAMINFO total-sample count (36 bits at byte 21, low nibble, to byte 25) set to
// `frames`; 0 means "unknown", what a streaming encoder writes.
std::string with_flac_total_samples(std::string flac, uint64_t frames) {
  EXPECT_EQ(flac.substr(0, 4), "fLaC");
  flac[21] =
      static_cast<char>((static_cast<unsigned char>(flac[21]) & 0xF0) | ((frames >> 32) & 0xF));
  for (int i = 0; i < 4; ++i) flac[22 + i] = static_cast<char>((frames >> (8 * (3 - i))) & 0xFF);
  return flac;
}

std::string limit_error_of(const std::string& bytes, double max_seconds, size_t* peak = nullptr) {
  try {
    decode_audio_memory(bytes, "bomb.flac",
                        {.max_seconds = max_seconds, .peak_decode_bytes = peak});
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

long max_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST(AudioLimit, FlacBombIsRefusedFromItsHeaderQuicklyAndSmall) {
  const std::string& bomb = flac_bomb();
  EXPECT_LT(bomb.size(), 400'000u) << "the bomb should be a few hundred KB";
  const long rss_before = max_rss_kb();
  size_t peak = 0;
  const auto start = std::chrono::steady_clock::now();
  const std::string message = limit_error_of(bomb, 7200, &peak);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_NE(message.find("audio 'bomb.flac' is longer than the 7200 s limit"), std::string::npos)
      << message;
  EXPECT_NE(message.find("header announces 8000 s"), std::string::npos) << message;
  EXPECT_LT(elapsed, 0.1);
  EXPECT_EQ(peak, 0u) << "nothing may be decoded when the header already says too long";
  EXPECT_LT(max_rss_kb() - rss_before, 20 * 1024) << "KB of extra peak RSS";
  // Through the Audio reader too, as an InputError (the server answers it with a 4xx).
  EXPECT_THROW(read_audio_memory(bomb, "bomb.flac", {.max_seconds = 7200}), InputError);
}

TEST(AudioLimit, StreamedFlacWithoutLengthStopsAtTheLimit) {
  const std::string streamed = with_flac_total_samples(flac_bomb(), 0);
  EXPECT_EQ(probe_audio_memory(streamed.data(), streamed.size()).frames, -1)
      << "libsndfile should see no length";
  const long rss_before = max_rss_kb();
  size_t peak = 0;
  const std::string message = limit_error_of(streamed, 60, &peak);
  EXPECT_NE(message.find("is longer than the 60 s limit: decoding passed it"), std::string::npos)
      << message;
  // 60 s at 8 kHz is 1.9 MB of floats; growth may hold old and new storage plus a block.
  const size_t limit_bytes = 60 * 8000 * sizeof(float);
  EXPECT_GT(peak, limit_bytes / 2);
  EXPECT_LT(peak, 3 * limit_bytes + (1 << 20));
  EXPECT_LT(max_rss_kb() - rss_before, 30 * 1024) << "KB of extra peak RSS";
}

TEST(AudioLimit, HeaderThatUnderstatesTheLengthCannotPassTheLimit) {
  // 30 s of data whose header claims 1 s: whatever libsndfile makes of it, no more than the
  // 10 s limit is ever returned, and an over-long decode is refused.
  const std::string flac = encoded_audio(30, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  const std::string lying = with_flac_total_samples(flac, 8000);
  try {
    const DecodedAudio audio = decode_audio_memory(lying, "lying.flac", {.max_seconds = 10});
    EXPECT_LE(audio.frames(), 10 * 8000);
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("longer than the 10 s limit"), std::string::npos)
        << e.what();
  }
  // The honest file is refused from its header, and accepted with room to spare.
  EXPECT_NE(limit_error_of(flac, 10).find("header announces 30 s"), std::string::npos);
  EXPECT_EQ(decode_audio_memory(flac, "ok.flac", {.max_seconds = 31}).frames(), 30 * 8000);
}

TEST(AudioLimit, AudioExactlyAtTheLimitIsAccepted) {
  const std::string wav = encoded_audio(2, 8000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  EXPECT_EQ(decode_audio_memory(wav, "two.wav", {.max_seconds = 2}).frames(), 16000);
  EXPECT_NE(limit_error_of(wav, 1.999).find("longer than the 1.999 s limit"), std::string::npos);
  EXPECT_EQ(read_audio_memory(wav, "two.wav", {.max_seconds = 2}).samples.size(), 32000u);
}

TEST(AudioLimit, RawPcmIsLimitedToo) {
  const std::string bytes(2 * 8000 * 10, '\0');  // 10 s of 8 kHz mono s16le
  EXPECT_EQ(decode_raw_s16le(bytes, 8000, 1, "stdin", {.max_seconds = 10}).frames(), 80000);
  try {
    decode_raw_s16le(bytes, 8000, 1, "stdin", {.max_seconds = 5});
    ADD_FAILURE() << "10 s of raw PCM passed a 5 s limit";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("raw PCM from stdin is longer than the 5 s limit"),
              std::string::npos)
        << e.what();
  }
  // A stream cut off one byte past the limit (what read_all_bytes returns) is "too long", not
  // "not whole frames".
  EXPECT_THROW(
      decode_raw_s16le(bytes.substr(0, 2 * 40001 + 1), 8000, 1, "stdin", {.max_seconds = 5}),
      InputError);
}

TEST(AudioLimit, MixDownWhileDecodingEqualsMixingAfter) {
  const std::string stereo = encoded_audio(1.5, 22050, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const DecodedAudio interleaved = decode_audio_memory(stereo, "s.wav");
  size_t peak = 0;
  const DecodedAudio mono =
      decode_audio_memory(stereo, "s.wav", {.mix_to_mono = true, .peak_decode_bytes = &peak});
  EXPECT_EQ(interleaved.channels, 2);
  EXPECT_EQ(mono.channels, 1);
  EXPECT_EQ(mono.source_channels, 2);
  EXPECT_EQ(mono.interleaved, mix_to_mono(interleaved.interleaved, 2));
  // The header's length was reserved once, for mono: no interleaved copy of the whole.
  EXPECT_EQ(mono.interleaved.capacity(), mono.interleaved.size());
  EXPECT_LT(peak, mono.interleaved.size() * sizeof(float) + (2 << 20));
  const std::string raw(2 * 2 * 100, '\x11');
  EXPECT_EQ(decode_raw_s16le(raw, 8000, 2, "stdin", {.mix_to_mono = true}).interleaved,
            mix_to_mono(decode_raw_s16le(raw, 8000, 2, "stdin").interleaved, 2));
}

TEST(AudioLimit, ProbeReadsTheHeaderOnly) {
  const AudioInfo bomb = probe_audio_memory(flac_bomb().data(), flac_bomb().size());
  EXPECT_EQ(bomb.frames, int64_t{8000} * 8000);
  EXPECT_EQ(bomb.sample_rate, 8000);
  EXPECT_EQ(bomb.channels, 1);
  EXPECT_NE(bomb.format.find("FLAC"), std::string::npos) << bomb.format;
  const std::string wav = encoded_audio(0.5, 16000, 2, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const AudioInfo info = probe_audio_memory(wav.data(), wav.size());
  EXPECT_EQ(info.frames, 8000);
  EXPECT_EQ(info.channels, 2);
  EXPECT_NE(info.format.find("WAV"), std::string::npos) << info.format;
  EXPECT_THROW(probe_audio_memory("not audio at all", 16), InputError);
  EXPECT_THROW(probe_audio_memory("", 0), InputError);
}

// Prefixes and byte flips of real containers: each decodes within the limit or fails with an
// Error; nothing crashes or returns more than the limit allows.
TEST(AudioLimit, TruncatedAndHostileBytesFailCleanly) {
  const std::vector<std::string> sources = {
      encoded_audio(3, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16),
      encoded_audio(3, 8000, 2, SF_FORMAT_WAV | SF_FORMAT_PCM_24),
      encoded_audio(3, 16000, 1, SF_FORMAT_OGG | SF_FORMAT_VORBIS)};
  std::mt19937 random(17);
  int failures = 0, decodes = 0;
  for (const std::string& source : sources) {
    for (int trial = 0; trial < 60; ++trial) {
      std::string bytes = source;
      if (trial % 2 == 0) {
        bytes.resize(random() % bytes.size());
      } else {
        for (int flips = 0; flips < 8; ++flips)
          bytes[random() % bytes.size()] = static_cast<char>(random());
      }
      try {
        const DecodedAudio audio =
            decode_audio_memory(bytes, "hostile", {.max_seconds = 2.5, .mix_to_mono = true});
        EXPECT_LE(audio.frames(), static_cast<int64_t>(2.5 * audio.sample_rate));
        ++decodes;
      } catch (const Error&) {
        ++failures;
      }
    }
  }
  EXPECT_GT(failures, 0);
}

// libFLAC allocates what a metadata block declares before reading it: a few hundred bytes with a
// repeated STREAMINFO made it hold 13 MB. Uploads that break FLAC's metadata rules are refused.
TEST(AudioLimit, FlacMetadataMustFitTheUpload) {
  const std::string flac = encoded_audio(0.5, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  ASSERT_NO_THROW(decode_audio_memory(flac, "ok.flac"));
  const auto error_of = [](const std::string& bytes) -> std::string {
    try {
      decode_audio_memory(bytes, "bad.flac");
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no InputError)";
  };
  // A second block declaring 16 MB in a file of a few KB.
  std::string huge_block = flac;
  huge_block[42] = static_cast<char>(huge_block[42] & 0x80 | 4);  // VORBIS_COMMENT
  huge_block[43] = huge_block[44] = huge_block[45] = static_cast<char>(0xFF);
  EXPECT_NE(error_of(huge_block).find("declares 16777215 bytes"), std::string::npos)
      << error_of(huge_block);
  std::string short_streaminfo = flac;
  short_streaminfo[7] = 0;  // STREAMINFO of 0 bytes
  EXPECT_NE(error_of(short_streaminfo).find("expected one 34-byte STREAMINFO block first"),
            std::string::npos)
      << error_of(short_streaminfo);
  EXPECT_NE(error_of(flac.substr(0, 20)).find("is truncated"), std::string::npos);
  EXPECT_THROW(probe_audio_memory(huge_block.data(), huge_block.size()), InputError);
}

// Only STREAMINFO reaches libFLAC (audio_decode.cpp, checked_reader): the other metadata blocks
// are skipped, so a VORBIS_COMMENT whose vendor string claims 16 MB inside a block of 8 bytes
// (libFLAC allocated what such fields declare: found by the audio fuzzer) changes nothing, and
// a real FLAC with a seek table, comments and padding decodes as from its file.
TEST(AudioLimit, FlacMetadataBesidesStreamInfoIsNotRead) {
  const std::string flac = encoded_audio(0.5, 8000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  const DecodedAudio clean = decode_audio_memory(flac, "ok.flac");
  std::string lying = flac;
  const bool streaminfo_last = (static_cast<unsigned char>(lying[4]) & 0x80) != 0;
  lying[4] = static_cast<char>(lying[4] & 0x7F);
  const char comment[] = {static_cast<char>(streaminfo_last ? 0x84 : 0x04),
                          0,
                          0,
                          8,
                          static_cast<char>(0xFF),
                          static_cast<char>(0xFF),
                          static_cast<char>(0xFF),
                          0,
                          0,
                          0,
                          0,
                          0};
  lying.insert(42, comment, sizeof comment);
  const DecodedAudio decoded = decode_audio_memory(lying, "lying.flac");
  EXPECT_EQ(decoded.interleaved, clean.interleaved);
  EXPECT_EQ(probe_audio_memory(lying.data(), lying.size()).sample_rate, 8000);

  const std::string real = testing::shared_dir() + "/audio/1272-128104-0000.flac";
  if (!std::filesystem::exists(real)) GTEST_SKIP() << "no " << real;
  EXPECT_EQ(decode_audio_memory(file_bytes(real), "real.flac").interleaved,
            decode_audio_file(real).interleaved);
}

// Inputs the audio fuzzer once failed on (tests/data/fuzz_regressions/audio) decode within the
// limit or fail with an Error, as the fuzz target demands.
// Found by tests/fuzz/stdin_fuzz.cpp (tests/data/fuzz_regressions/stdin): a float WAV sample of
// 2.5e38 became infinity and NaN when resampled; NaN and infinity themselves pass through too.
TEST(AudioLimit, NonFiniteOrHugeFloatSamplesAreRefused) {
  for (const float bad : {std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::infinity(), 2.5e38f, 1001.0f}) {
    const std::string path = testing::make_temp_dir("audio-nan") + "/nan.wav";
    SF_INFO info{.samplerate = 16000, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_FLOAT};
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
    std::vector<float> frames(2 * 1000, 0.1f);
    frames[2 * 700 + 1] = bad;
    sf_writef_float(file, frames.data(), 1000);
    sf_close(file);
    try {
      decode_audio_memory(file_bytes(path), "nan.wav", {.max_seconds = 5, .mix_to_mono = true});
      FAIL() << "a non-finite sample was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("at frame 700: expected finite samples within +-1000"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(AudioLimit, FuzzRegressionsFailCleanly) {
  const std::filesystem::path dir =
      std::filesystem::path(GLMASR_SOURCE_DIR) / "tests/data/fuzz_regressions/audio";
  int replayed = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string bytes = file_bytes(entry.path().string());
    try {
      const DecodedAudio audio = decode_audio_memory(bytes, entry.path().filename().string(),
                                                     {.max_seconds = 5, .mix_to_mono = true});
      EXPECT_LE(audio.frames(), 5 * audio.sample_rate) << entry.path();
    } catch (const Error&) {
    }
    ++replayed;
  }
  EXPECT_GT(replayed, 0) << "no regression inputs in " << dir;
}

}  // namespace
}  // namespace glmasr
