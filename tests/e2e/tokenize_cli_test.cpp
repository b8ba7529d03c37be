// The tokenize, detokenize and prompt commands as users and scripts call them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using testing::run_command;
using testing::shell_quote;

std::string binary() {
  return shell_quote(testing::glmasr_binary());
}
std::string tiny_dir() {
  return testing::data_dir() + "/tiny";
}
std::string tokenizer_arg() {
  return " --tokenizer " + shell_quote(tiny_dir() + "/tokenizer.json");
}

class TokenizeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(tiny_dir() + "/tokenizer.json"))
      GTEST_SKIP() << "missing " << tiny_dir() << "/tokenizer.json";
  }
};

std::vector<int32_t> parse_ids(const std::string& out) {
  return nlohmann::json::parse(out).get<std::vector<int32_t>>();
}

TEST_F(TokenizeCli, TextOptionAndStdinAgree) {
  const auto from_option = run_command(binary() + " tokenize" + tokenizer_arg() + " --text " +
                                       shell_quote("Hello <|user|>\n大家好👍"));
  ASSERT_EQ(from_option.exit_code, 0) << from_option.err;
  const auto from_stdin = run_command("printf '%s' " + shell_quote("Hello <|user|>\n大家好👍") +
                                      " | " + binary() + " tokenize" + tokenizer_arg());
  ASSERT_EQ(from_stdin.exit_code, 0) << from_stdin.err;
  EXPECT_EQ(parse_ids(from_option.out), parse_ids(from_stdin.out));
  const auto ids = parse_ids(from_option.out);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 59253), ids.end());  // <|user|> matched
}

TEST_F(TokenizeCli, DetokenizeRoundTrips) {
  const std::string text = "Hello <|user|>\n大家好👍 12345";
  const auto encoded =
      run_command(binary() + " tokenize" + tokenizer_arg() + " --text " + shell_quote(text));
  ASSERT_EQ(encoded.exit_code, 0) << encoded.err;
  std::string ids;
  for (int32_t id : parse_ids(encoded.out)) ids += " " + std::to_string(id);
  const auto decoded = run_command(binary() + " detokenize" + tokenizer_arg() + ids);
  ASSERT_EQ(decoded.exit_code, 0) << decoded.err;
  EXPECT_EQ(decoded.out, text + "\n");
  const auto skipped = run_command(binary() + " detokenize --skip-special" + tokenizer_arg() + ids);
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  EXPECT_EQ(skipped.out, "Hello \n大家好👍 12345\n");
}

TEST_F(TokenizeCli, BadInputsFailWithAMessage) {
  auto result = run_command(binary() + " detokenize" + tokenizer_arg() + " 12 abc");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("expected a non-negative integer, got 'abc'"), std::string::npos)
      << result.err;
  result = run_command(binary() + " detokenize" + tokenizer_arg() + " 99999999");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("got 99999999"), std::string::npos) << result.err;
  result = run_command(binary() + " tokenize --tokenizer /nonexistent/tokenizer.json --text hi");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("/nonexistent/tokenizer.json"), std::string::npos) << result.err;
  result = run_command(binary() + " tokenize --text hi");
  EXPECT_EQ(result.exit_code, 2);
  result = run_command("printf 'a\\377b' | " + binary() + " tokenize" + tokenizer_arg());
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("UTF-8"), std::string::npos) << result.err;
}

TEST_F(TokenizeCli, UnsupportedTokenizerIsNamed) {
  const std::string dir = testing::make_temp_dir("tokenize-cli");
  std::ofstream(dir + "/tokenizer.json")
      << R"({"model": {"type": "Unigram", "vocab": []}, "pre_tokenizer": {"type": "ByteLevel"}})";
  const auto result = run_command(binary() + " tokenize --tokenizer " +
                                  shell_quote(dir + "/tokenizer.json") + " --text hi");
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find(dir + "/tokenizer.json: unsupported model 'Unigram'"),
            std::string::npos)
      << result.err;
}

TEST_F(TokenizeCli, PromptReportsEachBadFileAndKeepsGoing) {
  if (testing::shared_dir().empty()) GTEST_SKIP() << "missing ../shared (the audio files)";
  const std::string dir = testing::make_temp_dir("prompt-cli");
  std::ofstream(dir + "/not_audio.wav") << "this is not audio";
  const std::string good = testing::shared_dir() + "/audio/jfk.wav";
  const auto result = run_command(binary() + " prompt --model " + shell_quote(tiny_dir()) + " " +
                                  shell_quote(dir + "/not_audio.wav") + " " + shell_quote(good) +
                                  " --prompt " + shell_quote("Transcribe:"));
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("not_audio.wav"), std::string::npos) << result.err;
  const auto ids = parse_ids(result.out);                     // only the good file's line
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 59260), 137);  // jfk.wav: 11 s
  EXPECT_EQ(ids.front(), 59253);
  EXPECT_EQ(ids.back(), 10);
}

TEST_F(TokenizeCli, PromptPrintsWhatTranscribeSendsPerSegment) {
  if (testing::shared_dir().empty()) GTEST_SKIP() << "missing ../shared (the audio files)";
  const std::string dir = testing::make_temp_dir("prompt-long");
  // jfk.wav five times with pauses: about 70 s, more than one segment.
  const Audio jfk = read_audio(testing::shared_dir() + "/audio/jfk.wav");
  std::vector<float> samples;
  for (int i = 0; i < 5; ++i) {
    samples.insert(samples.end(), jfk.samples.begin(), jfk.samples.end());
    samples.insert(samples.end(), 3 * 16000, 0.0f);
  }
  const std::string path = dir + "/long.wav";
  testing::write_wav(path, samples);
  const auto segmented = run_command(binary() + " prompt --model " + shell_quote(tiny_dir()) + " " +
                                     shell_quote(path));
  ASSERT_EQ(segmented.exit_code, 0) << segmented.err;
  const auto transcribed = run_command(binary() +
                                       " transcribe --device cpu --quiet --max-new-tokens 1 "
                                       "--format verbose_json --model " +
                                       shell_quote(tiny_dir()) + " " + shell_quote(path));
  ASSERT_EQ(transcribed.exit_code, 0) << transcribed.err;
  size_t decoded = 0;
  const nlohmann::json transcript = nlohmann::json::parse(transcribed.out);
  for (const auto& segment : transcript["segments"])
    decoded += segment["stop_reason"] != "silence" && segment["stop_reason"] != "too_short";
  const size_t lines = std::count(segmented.out.begin(), segmented.out.end(), '\n');
  EXPECT_GE(lines, 2u);
  EXPECT_EQ(lines, decoded);
  const auto single = run_command(binary() + " prompt --single-request --model " +
                                  shell_quote(tiny_dir()) + " " + shell_quote(path));
  ASSERT_EQ(single.exit_code, 0) << single.err;
  EXPECT_EQ(std::count(single.out.begin(), single.out.end(), '\n'), 1);
}

TEST_F(TokenizeCli, PromptWithoutAudioIsAUsageError) {
  const auto result = run_command(binary() + " prompt --model " + shell_quote(tiny_dir()));
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("usage: glmasr prompt"), std::string::npos);
}

}  // namespace
}  // namespace glmasr
