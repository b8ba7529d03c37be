// glmasr transcribe through the real binary on the tiny fixture checkpoint (CPU engine):
// equal to the transformers pipeline, robust to bad inputs, long-form segmentation.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audio/audio_file.h"
#include "io/json_file.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using nlohmann::json;

std::string model_dir() {
  return testing::data_dir() + "/tiny";
}

std::string audio_path(const std::string& name) {
  return testing::shared_dir().empty() ? "" : testing::shared_dir() + "/audio/" + name;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

testing::CommandResult transcribe(const std::string& options, const std::string& files) {
  return testing::run_command(testing::glmasr_binary() +
                              " transcribe --device cpu --quiet --model " +
                              testing::shell_quote(model_dir()) + " " + options + " " + files);
}

class TranscribeCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
  }
};

TEST_F(TranscribeCli, EqualsTheTransformersPipeline) {
  const json expected = read_json_file(testing::data_dir() + "/golden/tiny_e2e.json");
  for (const std::string name : {"jfk.wav", "1272-128104-0000.flac"}) {
    const json& want = expected[name];
    const auto prompt = testing::run_command(testing::glmasr_binary() + " prompt --model " +
                                             testing::shell_quote(model_dir()) + " " +
                                             testing::shell_quote(audio_path(name)));
    ASSERT_EQ(prompt.exit_code, 0) << prompt.err;
    EXPECT_EQ(json::parse(prompt.out), want["prompt_ids"]) << name;

    const auto run = transcribe(
        "--format json --max-new-tokens " + std::to_string(want["max_new_tokens"].get<int>()),
        testing::shell_quote(audio_path(name)));
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const auto lines = json_lines(run.out);
    ASSERT_EQ(lines.size(), 1u) << run.out;
    std::vector<int> tokens = want["tokens"];
    for (int eos : {59246, 59253, 59255})
      if (!tokens.empty() && tokens.back() == eos) tokens.pop_back();
    EXPECT_EQ(lines[0]["tokens"], json(tokens)) << name;
    EXPECT_EQ(lines[0]["text"], want["text"]) << name;
  }
}

TEST_F(TranscribeCli, SingleRequestReadsTwoWindowsLikeTheReference) {
  // jfk + 0.5 s + jfk + 0.5 s + jfk: the input of the two-window golden dump.
  const Audio jfk = read_audio(audio_path("jfk.wav"));
  std::vector<float> samples;
  for (int i = 0; i < 3; ++i) {
    samples.insert(samples.end(), jfk.samples.begin(), jfk.samples.end());
    if (i < 2) samples.insert(samples.end(), 8000, 0.0f);
  }
  const std::string dir = testing::make_temp_dir("two-window");
  testing::write_wav(dir + "/long34.wav", samples);
  const auto run = transcribe("--single-request --format json --max-new-tokens 8",
                              testing::shell_quote(dir + "/long34.wav"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  // The golden dump's tokens (the WAV round trip quantises exactly as the 16-bit source did).
  const auto lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["tokens"], json({31960, 21075, 27804, 40336, 45191, 19565, 3464, 6805}));
}

TEST_F(TranscribeCli, BadInputsFailAloneWithClearMessages) {
  const std::string dir = testing::make_temp_dir("bad-inputs");
  { std::ofstream(dir + "/text.wav") << "this is not audio at all"; }
  { std::ofstream(dir + "/empty.wav"); }
  testing::write_wav(dir + "/short.wav", std::vector<float>(400, 0.1f));  // 25 ms: no audio token
  const auto run = transcribe("--format json --max-new-tokens 2",
                              testing::shell_quote(dir + "/text.wav") + " " +
                                  testing::shell_quote(audio_path("jfk.wav")) + " " +
                                  testing::shell_quote(dir + "/missing.wav") + " " +
                                  testing::shell_quote(dir + "/empty.wav") + " " +
                                  testing::shell_quote(dir + "/short.wav"));
  EXPECT_EQ(run.exit_code, 1) << run.err;
  const auto lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 1u) << "the good file still completes";
  EXPECT_NE(lines[0]["file"].get<std::string>().find("jfk.wav"), std::string::npos);
  for (const std::string bad : {"text.wav", "missing.wav", "empty.wav", "short.wav"})
    EXPECT_NE(run.err.find(bad), std::string::npos) << bad << " not named in:\n" << run.err;
  EXPECT_NE(run.err.find("4 of 5 inputs failed"), std::string::npos) << run.err;
}

TEST_F(TranscribeCli, LongAudioIsSegmentedInPauses) {
  // 2.6 minutes: jfk (11 s) then 1.5 s of silence, repeated. Pauses sit at known places.
  const Audio jfk = read_audio(audio_path("jfk.wav"));
  std::vector<float> samples;
  std::vector<std::pair<double, double>> pauses;
  while (samples.size() < 160 * 16000) {
    samples.insert(samples.end(), jfk.samples.begin(), jfk.samples.end());
    const double start = samples.size() / 16000.0;
    samples.insert(samples.end(), 24000, 0.0f);
    pauses.emplace_back(start, samples.size() / 16000.0);
  }
  const double duration = samples.size() / 16000.0;
  const std::string dir = testing::make_temp_dir("long");
  testing::write_wav(dir + "/long.wav", samples);
  const auto run = transcribe("--format verbose_json --max-new-tokens 3",
                              testing::shell_quote(dir + "/long.wav"));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 1u);
  const json& segments = lines[0]["segments"];
  ASSERT_GE(segments.size(), 6u);
  EXPECT_DOUBLE_EQ(segments.front()["start"].get<double>(), 0.0);
  EXPECT_NEAR(segments.back()["end"].get<double>(), duration, 1e-3);
  for (size_t i = 0; i < segments.size(); ++i) {
    const double start = segments[i]["start"], end = segments[i]["end"];
    EXPECT_LT(start, end);
    EXPECT_LE(end - start, 30.0 + 1e-6);
    if (i == 0) continue;
    EXPECT_DOUBLE_EQ(start, segments[i - 1]["end"].get<double>()) << "segments are contiguous";
    bool in_pause = false;  // the sample at a cut must not split a word
    for (const auto& [a, b] : pauses) in_pause |= start >= a - 0.05 && start <= b + 0.05;
    EXPECT_TRUE(in_pause) << "cut at " << start << " s is not in a pause";
  }
}

}  // namespace
}  // namespace glmasr
