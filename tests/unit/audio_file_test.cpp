// Decoding real and synthetic audio files: every WAV sample width, stereo mixdown, resampling,
// the shared FLAC/MP3 recordings, and a clear error naming the file for each bad input.
#include "audio/audio_file.h"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numbers>
#include <string>
#include <vector>

#include "audio/audio_decode.h"
#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::vector<float> sine(double hertz, int rate, int64_t count, double amplitude = 0.5) {
  std::vector<float> samples(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    samples[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hertz * i / rate));
  return samples;
}

// Writes interleaved float frames with libsndfile in the given format (it quantises them).
void write_sound_file(const std::string& path, const std::vector<float>& interleaved, int rate,
                      int channels, int format) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
  const sf_count_t frames = static_cast<sf_count_t>(interleaved.size()) / channels;
  EXPECT_EQ(sf_writef_float(file, interleaved.data(), frames), frames);
  sf_close(file);
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string error_of(const std::string& path) {
  try {
    read_audio(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class AudioFileTest : public ::testing::Test {
 protected:
  std::string dir_ = testing::make_temp_dir("audio-file");
};

struct WavWidth {
  int subformat;
  const char* name;
  int bits;
};

// Integer samples are written as exact values of each width (through sf_write_int, which keeps
// the top `bits` bits) and must come back as value / 2^(bits-1), the libsndfile float scaling;
// that is within one quantisation step of the signal they encode.
TEST_F(AudioFileTest, EveryIntegerWavWidthReadsBackScaled) {
  const std::vector<WavWidth> widths = {{SF_FORMAT_PCM_U8, "u8", 8},
                                        {SF_FORMAT_PCM_16, "s16", 16},
                                        {SF_FORMAT_PCM_24, "s24", 24},
                                        {SF_FORMAT_PCM_32, "s32", 32}};
  const std::vector<float> original = sine(440.0, 16000, 4000, 0.7);
  for (const WavWidth& width : widths) {
    const double full_scale = std::ldexp(1.0, width.bits - 1);
    std::vector<int> words(original.size());
    std::vector<double> expected(original.size());
    for (size_t i = 0; i < original.size(); ++i) {
      const double level = std::round(original[i] * full_scale);
      expected[i] = level / full_scale;
      words[i] = static_cast<int>(level * std::ldexp(1.0, 32 - width.bits));
    }
    const std::string path = dir_ + "/sine_" + width.name + ".wav";
    SF_INFO info{};
    info.samplerate = 16000;
    info.channels = 1;
    info.format = SF_FORMAT_WAV | width.subformat;
    SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
    ASSERT_NE(file, nullptr) << sf_strerror(nullptr);
    sf_write_int(file, words.data(), static_cast<sf_count_t>(words.size()));
    sf_close(file);

    const Audio audio = read_audio(path);
    EXPECT_EQ(audio.source_sample_rate, 16000) << width.name;
    EXPECT_EQ(audio.source_channels, 1) << width.name;
    EXPECT_EQ(audio.source, path);
    ASSERT_EQ(audio.samples.size(), original.size()) << width.name;
    double worst_scaling = 0, worst_signal = 0;
    for (size_t i = 0; i < original.size(); ++i) {
      worst_scaling = std::max(worst_scaling, std::fabs(audio.samples[i] - expected[i]));
      worst_signal =
          std::max(worst_signal, std::fabs(static_cast<double>(audio.samples[i]) - original[i]));
    }
    EXPECT_LE(worst_scaling, 1e-7) << width.name;  // float rounding of value / 2^(bits-1)
    EXPECT_LE(worst_signal, 0.5 / full_scale + 1e-7) << width.name;
    EXPECT_GT(*std::max_element(audio.samples.begin(), audio.samples.end()), 0.69f) << width.name;
  }
}

TEST_F(AudioFileTest, FloatWavReadsBackExactly) {
  const std::vector<float> original = sine(440.0, 16000, 4000, 0.7);
  const std::string path = dir_ + "/sine_f32.wav";
  write_sound_file(path, original, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  EXPECT_EQ(read_audio(path).samples, original);
}

// 16-bit PCM is scaled by exactly 1/32768, as soundfile/librosa read it.
TEST_F(AudioFileTest, Int16IsScaledBy32768) {
  const std::string path = dir_ + "/int16.wav";
  SF_INFO info{};
  info.samplerate = 16000;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(file, nullptr);
  const short values[] = {-32768, -1, 0, 1, 16384, 32767};
  sf_write_short(file, values, 6);
  sf_close(file);
  const Audio audio = read_audio(path);
  ASSERT_EQ(audio.samples.size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(audio.samples[i], values[i] / 32768.0f) << i;
}

TEST_F(AudioFileTest, StereoIsMixedToTheChannelMean) {
  const std::vector<float> left = sine(300.0, 16000, 1600, 0.6);
  std::vector<float> interleaved;
  for (float l : left) {
    interleaved.push_back(l);
    interleaved.push_back(-0.5f * l + 0.1f);
  }
  const std::string path = dir_ + "/stereo.wav";
  write_sound_file(path, interleaved, 16000, 2, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const Audio audio = read_audio(path);
  EXPECT_EQ(audio.source_channels, 2);
  ASSERT_EQ(audio.samples.size(), left.size());
  for (size_t i = 0; i < left.size(); ++i)
    EXPECT_NEAR(audio.samples[i], 0.25f * left[i] + 0.05f, 1e-6) << i;
}

// Zero crossings of the middle part of a signal give its frequency.
double estimated_frequency(const std::vector<float>& samples, int rate) {
  const size_t begin = samples.size() / 4, end = 3 * samples.size() / 4;
  int crossings = 0;
  for (size_t i = begin + 1; i < end; ++i)
    if ((samples[i - 1] < 0) != (samples[i] < 0)) ++crossings;
  return crossings / 2.0 / (static_cast<double>(end - begin) / rate);
}

TEST_F(AudioFileTest, TwentyFourKilohertzIsResampledTo16k) {
  const int64_t frames = 24001;  // odd length: the output rounds up, ceil(24001 * 2 / 3)
  const std::string path = dir_ + "/sine24k.wav";
  write_sound_file(path, sine(1000.0, 24000, frames), 24000, 1, SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  const Audio audio = read_audio(path);
  EXPECT_EQ(audio.source_sample_rate, 24000);
  EXPECT_EQ(audio.samples.size(), 16001u);
  EXPECT_NEAR(audio.seconds(), 1.0, 1e-3);
  EXPECT_NEAR(estimated_frequency(audio.samples, 16000), 1000.0, 5.0);
  // The amplitude survives too (passband of the HQ filter).
  float peak = 0;
  for (size_t i = 4000; i < 12000; ++i) peak = std::max(peak, std::fabs(audio.samples[i]));
  EXPECT_NEAR(peak, 0.5f, 0.01f);
}

TEST_F(AudioFileTest, SharedFlacAndMp3Decode) {
  const std::string shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "no ../shared directory (set GLMASR_SHARED_DIR)";
  struct Case {
    const char* file;
    int rate;
    double seconds;
  };
  for (const Case& c : {Case{"1272-128104-0000.flac", 16000, 5.855}, Case{"jfk.wav", 16000, 11.0},
                        Case{"bcn_weather.mp3", 48000, 11.04}}) {
    const Audio audio = read_audio(shared + "/audio/" + c.file);
    EXPECT_EQ(audio.source_sample_rate, c.rate) << c.file;
    EXPECT_EQ(audio.source_channels, 1) << c.file;
    EXPECT_NEAR(audio.seconds(), c.seconds, 0.05) << c.file;
    double energy = 0;
    for (float s : audio.samples) {
      energy += static_cast<double>(s) * s;
      ASSERT_LE(std::fabs(s), 1.01f) << c.file;
    }
    EXPECT_GT(std::sqrt(energy / audio.samples.size()), 0.003) << c.file << ": silent?";
  }
}

TEST_F(AudioFileTest, MissingFileIsNamed) {
  const std::string message = error_of(dir_ + "/nope.wav");
  EXPECT_NE(message.find("nope.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("no such file"), std::string::npos) << message;
}

TEST_F(AudioFileTest, DirectoryIsRejected) {
  const std::string message = error_of(dir_);
  EXPECT_NE(message.find(dir_), std::string::npos) << message;
  EXPECT_NE(message.find("directory"), std::string::npos) << message;
}

TEST_F(AudioFileTest, EmptyFileIsNamed) {
  write_text(dir_ + "/empty.wav", "");
  const std::string message = error_of(dir_ + "/empty.wav");
  EXPECT_NE(message.find("empty.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("empty"), std::string::npos) << message;
}

TEST_F(AudioFileTest, TextFileIsNotAudio) {
  write_text(dir_ + "/notes.txt", "These are not the samples you are looking for.\n");
  const std::string message = error_of(dir_ + "/notes.txt");
  EXPECT_NE(message.find("notes.txt"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot be decoded"), std::string::npos) << message;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

TEST_F(AudioFileTest, TruncatedHeaderIsAnError) {
  const std::string path = dir_ + "/full.wav";
  write_sound_file(path, sine(440, 16000, 16000), 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  write_text(dir_ + "/cut_header.wav", read_bytes(path).substr(0, 20));
  const std::string message = error_of(dir_ + "/cut_header.wav");
  EXPECT_NE(message.find("cut_header.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("cannot be decoded"), std::string::npos) << message;
  // Found before libsndfile sees it: the fmt chunk is cut (check_wav_chunks).
  EXPECT_NE(message.find("chunk 'fmt ' declares 16 bytes and only 0 follow"), std::string::npos)
      << message;
}

TEST_F(AudioFileTest, TruncatedDataIsAnError) {
  for (const auto& [name, format] : {std::pair{"wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16},
                                     std::pair{"flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16}}) {
    const std::string path = dir_ + "/full." + name;
    write_sound_file(path, sine(440, 16000, 48000), 16000, 1, format);
    const std::string bytes = read_bytes(path);
    const std::string cut = dir_ + "/cut_data." + name;
    write_text(cut, bytes.substr(0, bytes.size() / 2));
    const std::string message = error_of(cut);
    EXPECT_NE(message.find(cut), std::string::npos) << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
  }
}

TEST_F(AudioFileTest, FileWithoutSamplesIsAnError) {
  const std::string path = dir_ + "/silence0.wav";
  write_sound_file(path, {}, 16000, 1, SF_FORMAT_WAV | SF_FORMAT_PCM_16);
  const std::string message = error_of(path);
  EXPECT_NE(message.find("silence0.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("no audio samples"), std::string::npos) << message;
}

// Raw s16le: exact scaling, channel interleave, and the errors for bad byte counts and rates.
TEST(RawPcm, DecodesLittleEndianInterleaved) {
  const std::string bytes = {'\x00', '\x80', '\xff', '\x7f', '\x01', '\x00', '\x00', '\x00'};
  const DecodedAudio mono = decode_raw_s16le(bytes, 8000, 1, "standard input");
  ASSERT_EQ(mono.interleaved.size(), 4u);
  EXPECT_EQ(mono.interleaved[0], -1.0f);
  EXPECT_EQ(mono.interleaved[1], 32767.0f / 32768.0f);
  EXPECT_EQ(mono.interleaved[2], 1.0f / 32768.0f);
  EXPECT_EQ(mono.interleaved[3], 0.0f);
  const DecodedAudio stereo = decode_raw_s16le(bytes, 8000, 2, "standard input");
  EXPECT_EQ(stereo.frames(), 2);
  EXPECT_EQ(stereo.channels, 2);
}

TEST(RawPcm, RejectsBadInput) {
  auto message = [](const std::string& bytes, int rate, int channels) -> std::string {
    try {
      decode_raw_s16le(bytes, rate, channels, "standard input");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_NE(message("abc", 16000, 1).find("3 bytes"), std::string::npos);
  EXPECT_NE(message("abcdef", 16000, 2).find("multiple of 4 bytes"), std::string::npos);
  EXPECT_NE(message("", 16000, 1).find("empty"), std::string::npos);
  EXPECT_NE(message("ab", 0, 1).find("--input-rate"), std::string::npos);
  EXPECT_NE(message("ab", 16000, 0).find("channels"), std::string::npos);
}

TEST(RawPcm, StdinWithoutRateFailsBeforeReading) {
  try {
    read_audio("-");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--input-rate"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmasr
