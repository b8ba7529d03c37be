// `glmasr mel` through the binary: .npy output, raw PCM on standard input, and the errors.
#include <gtest/gtest.h>
#include <sndfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <fstream>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "io/npy.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using testing::shell_quote;

std::string mel_command(const std::string& arguments) {
  return shell_quote(testing::glmasr_binary()) + " mel " + arguments;
}

// 1.5 s of a 16 kHz tone as s16le raw bytes and as a WAV file with the same samples.
struct ToneFixture {
  std::string raw_path, wav_path;
};

ToneFixture write_tone(const std::string& dir, int rate) {
  std::vector<short> values(static_cast<size_t>(rate * 3 / 2));
  for (size_t i = 0; i < values.size(); ++i)
    values[i] = static_cast<short>(std::lround(8000 * std::sin(0.07 * static_cast<double>(i))));
  ToneFixture fixture{dir + "/tone.raw", dir + "/tone.wav"};
  std::ofstream raw(fixture.raw_path, std::ios::binary);
  for (short v : values) {
    raw.put(static_cast<char>(v & 0xFF));
    raw.put(static_cast<char>((v >> 8) & 0xFF));
  }
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open(fixture.wav_path.c_str(), SFM_WRITE, &info);
  sf_write_short(file, values.data(), static_cast<sf_count_t>(values.size()));
  sf_close(file);
  return fixture;
}

TEST(MelCli, WritesFeaturesOfAFile) {
  const std::string dir = testing::make_temp_dir("mel-cli-file");
  const ToneFixture tone = write_tone(dir, 16000);
  const auto result = testing::run_command(
      mel_command(shell_quote(tone.wav_path) + " -o " + shell_quote(dir + "/out.npy")));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const FloatTensor features = read_npy_f32(dir + "/out.npy");
  EXPECT_EQ(features.shape(), (Shape{1, 128, 3000}));
  // Same numbers as the library computes for the same file.
  const MelWindows expected = LogMelExtractor().compute(read_audio(tone.wav_path).samples);
  EXPECT_EQ(features.values(), expected.features.values());
  EXPECT_NE(result.err.find("valid frames 150"), std::string::npos) << result.err;
}

TEST(MelCli, RawPcmOnStdinEqualsTheWavFile) {
  const std::string dir = testing::make_temp_dir("mel-cli-stdin");
  const ToneFixture tone = write_tone(dir, 24000);  // resampled on both paths
  const auto from_stdin = testing::run_command(mel_command("- --input-rate 24000 -o " +
                                                           shell_quote(dir + "/stdin.npy") + " < " +
                                                           shell_quote(tone.raw_path)));
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  const auto from_file = testing::run_command(
      mel_command(shell_quote(tone.wav_path) + " -o " + shell_quote(dir + "/file.npy")));
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  const FloatTensor a = read_npy_f32(dir + "/stdin.npy"), b = read_npy_f32(dir + "/file.npy");
  EXPECT_EQ(a.shape(), (Shape{1, 128, 3000}));
  EXPECT_EQ(a.values(), b.values());
}

TEST(MelCli, StdinWithoutRateIsAClearError) {
  const std::string dir = testing::make_temp_dir("mel-cli-norate");
  const auto result =
      testing::run_command(mel_command("- -o " + shell_quote(dir + "/x.npy") + " < /dev/null"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--input-rate"), std::string::npos) << result.err;
}

TEST(MelCli, BadFilesFailWithTheirName) {
  const std::string dir = testing::make_temp_dir("mel-cli-bad");
  std::ofstream(dir + "/notes.txt") << "not audio at all\n";
  for (const std::string& name : {"missing.wav", "notes.txt"}) {
    const auto result = testing::run_command(
        mel_command(shell_quote(dir + "/" + name) + " -o " + shell_quote(dir + "/x.npy")));
    EXPECT_EQ(result.exit_code, 1) << name;
    EXPECT_NE(result.err.find(name), std::string::npos) << result.err;
  }
}

TEST(MelCli, UsageErrors) {
  EXPECT_EQ(testing::run_command(mel_command("")).exit_code, 2);
  EXPECT_EQ(testing::run_command(mel_command("a.wav")).exit_code, 2);  // no -o
  EXPECT_EQ(testing::run_command(mel_command("--help")).exit_code, 0);
  const auto bad_rate = testing::run_command(mel_command("- --input-rate fast -o x.npy"));
  EXPECT_EQ(bad_rate.exit_code, 2);
  EXPECT_NE(bad_rate.err.find("--input-rate"), std::string::npos) << bad_rate.err;
  // The rate describes raw PCM on standard input; a file carries its own.
  const auto rate_for_file = testing::run_command(mel_command("a.wav --input-rate 16000 -o x.npy"));
  EXPECT_EQ(rate_for_file.exit_code, 2);
  EXPECT_NE(rate_for_file.err.find("--input-rate"), std::string::npos) << rate_for_file.err;
}

TEST(MelCli, AWavOnStdinIsDecodedAsAWav) {
  const std::string dir = testing::make_temp_dir("mel-cli-stdin-wav");
  const ToneFixture tone = write_tone(dir, 24000);
  const auto from_stdin = testing::run_command(
      mel_command("- -o " + shell_quote(dir + "/stdin.npy") + " < " + shell_quote(tone.wav_path)));
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_NE(from_stdin.err.find("(24000 Hz, 1 ch)"), std::string::npos) << from_stdin.err;
  const auto from_file = testing::run_command(
      mel_command(shell_quote(tone.wav_path) + " -o " + shell_quote(dir + "/file.npy")));
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
  EXPECT_EQ(read_npy_f32(dir + "/stdin.npy").values(), read_npy_f32(dir + "/file.npy").values());

  // A rate given for a stream that states its own is refused, not ignored.
  const auto with_rate =
      testing::run_command(mel_command("- --input-rate 16000 -o " + shell_quote(dir + "/x.npy") +
                                       " < " + shell_quote(tone.wav_path)));
  EXPECT_EQ(with_rate.exit_code, 1);
  EXPECT_NE(with_rate.err.find("holds a WAV stream"), std::string::npos) << with_rate.err;
}

TEST(MelCli, AnUnreadableFileGivesTheSystemsReason) {
  const std::string dir = testing::make_temp_dir("mel-cli-unreadable");
  const ToneFixture tone = write_tone(dir, 16000);
  ASSERT_EQ(::chmod(tone.wav_path.c_str(), 0), 0);
  // Root reads any file: run the binary as nobody then (the build tree is world-readable).
  std::string runner;
  if (::geteuid() == 0) {
    if (testing::run_command("command -v setpriv").exit_code != 0)
      GTEST_SKIP() << "running as root without setpriv";
    runner = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  const auto result =
      testing::run_command(runner + mel_command(shell_quote(tone.wav_path) + " -o /dev/null"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("tone.wav' cannot be opened: Permission denied"), std::string::npos)
      << result.err;
  EXPECT_EQ(result.err.find("cannot be decoded"), std::string::npos) << result.err;
}

TEST(MelCli, SharedRecordingsGiveOneWindowEach) {
  const std::string shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "no ../shared directory (set GLMASR_SHARED_DIR)";
  const std::string dir = testing::make_temp_dir("mel-cli-shared");
  for (const std::string& name : {"jfk.wav", "bcn_weather.mp3", "1272-128104-0000.flac"}) {
    const auto result = testing::run_command(mel_command(shell_quote(shared + "/audio/" + name) +
                                                         " -o " + shell_quote(dir + "/out.npy")));
    ASSERT_EQ(result.exit_code, 0) << name << ": " << result.err;
    EXPECT_EQ(read_npy_f32(dir + "/out.npy").shape(), (Shape{1, 128, 3000})) << name;
  }
}

}  // namespace
}  // namespace glmasr
