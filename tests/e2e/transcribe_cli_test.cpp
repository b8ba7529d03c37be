// glmasr transcribe through the real binary on the tiny fixture checkpoint (CPU engine):
// equal to the transformers pipeline, robust to bad inputs, long-form segmentation.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "audio/audio_file.h"
#include "io/json_file.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using nlohmann::json;
using testing::shell_quote;
namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

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

// --weights fp8: the CPU engine quantizes the decoder's projections and lm_head at load and
// transcribes with them (the tiny model's random weights give no meaningful text to compare).
TEST_F(TranscribeCli, Fp8WeightsLoadAndTranscribe) {
  const auto run = transcribe("--weights fp8 --timings --format json --max-new-tokens 8",
                              testing::shell_quote(audio_path("jfk.wav")));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("fp8 decoder weights"), std::string::npos) << run.err;
  const auto lines = json_lines(run.out);
  ASSERT_EQ(lines.size(), 1u) << run.out;
  EXPECT_TRUE(lines[0]["text"].is_string());
  EXPECT_FALSE(lines[0]["tokens"].empty());
  const auto bf16 = transcribe("--timings --format json --max-new-tokens 8",
                               testing::shell_quote(audio_path("jfk.wav")));
  ASSERT_EQ(bf16.exit_code, 0) << bf16.err;
  EXPECT_EQ(bf16.err.find("fp8"), std::string::npos) << bf16.err;
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

// Issue 15 without a GPU: two CPU engines behind the dispatcher (--devices 0,0) write what one
// engine writes, input by input and segment by segment, in order.
TEST_F(TranscribeCli, TwoEnginesWriteWhatOneEngineWrites) {
  const Audio jfk = read_audio(audio_path("jfk.wav"));
  std::vector<float> samples;
  while (samples.size() < 100 * 16000) {
    samples.insert(samples.end(), jfk.samples.begin(), jfk.samples.end());
    samples.insert(samples.end(), 24000, 0.0f);
  }
  const std::string dir = testing::make_temp_dir("devices");
  testing::write_wav(dir + "/long.wav", samples);
  const std::string files = shell_quote(dir + "/long.wav") + " " +
                            shell_quote(audio_path("1272-128104-0000.flac")) + " " +
                            shell_quote(audio_path("jfk.wav"));
  const auto one = transcribe("--format verbose_json --max-new-tokens 4 --devices 0", files);
  const auto two =
      transcribe("--format verbose_json --max-new-tokens 4 --devices 0,0 --timings", files);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(two.exit_code, 0) << two.err;
  ASSERT_EQ(json_lines(one.out).size(), 3u);
  ASSERT_GE(json_lines(one.out)[0]["segments"].size(), 4u);
  EXPECT_EQ(two.out, one.out);
  EXPECT_NE(two.err.find("2 engines: cpu"), std::string::npos) << two.err;

  const auto gpu_one = transcribe("--devices 1", files);
  EXPECT_EQ(gpu_one.exit_code, 2);
  EXPECT_NE(gpu_one.err.find("--devices: there is no GPU to use here"), std::string::npos)
      << gpu_one.err;
  const auto malformed = transcribe("--devices 0,,1", files);
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("expected 'all' or device ordinals"), std::string::npos)
      << malformed.err;
}

TEST_F(TranscribeCli, EveryFormatGetsItsOwnFile) {
  const std::string dir = testing::make_temp_dir("formats") + "/out";  // created by -o
  const auto run =
      transcribe("--format json,verbose_json,txt,srt,vtt --max-new-tokens 3 -o " + shell_quote(dir),
                 shell_quote(audio_path("jfk.wav")));
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(run.out.empty()) << run.out;
  const json plain = json::parse(read_file(dir + "/jfk.wav.json"));
  const json verbose = json::parse(read_file(dir + "/jfk.wav.verbose.json"));
  EXPECT_FALSE(plain.contains("segments")) << plain.dump();
  EXPECT_TRUE(verbose.contains("segments")) << verbose.dump();
  EXPECT_EQ(plain["text"], verbose["text"]);
  for (const char* ext : {"txt", "srt", "vtt"})
    EXPECT_TRUE(fs::is_regular_file(dir + "/jfk.wav." + ext)) << ext;
}

TEST_F(TranscribeCli, CollidingOutputsAreRefusedBeforeAnyWork) {
  const std::string root = testing::make_temp_dir("collide");
  for (const char* folder : {"/a", "/b"}) {
    fs::create_directories(root + folder);
    fs::copy_file(audio_path("jfk.wav"), root + folder + "/jfk.wav");
  }
  // No model at that path: the refusal must come first.
  const auto run = testing::run_command(
      testing::glmasr_binary() + " transcribe --device cpu --model /nonexistent -o " +
      shell_quote(root + "/out") + " " + shell_quote(root + "/a/jfk.wav") + " " +
      shell_quote(root + "/b/jfk.wav"));
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("'" + root + "/a/jfk.wav' and '" + root + "/b/jfk.wav'"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("model"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(root + "/out"));
  // The same file twice collides with itself; without -o both go to stdout and that is fine.
  const auto twice =
      transcribe("-o " + shell_quote(root + "/out"),
                 shell_quote(root + "/a/jfk.wav") + " " + shell_quote(root + "/a/jfk.wav"));
  EXPECT_EQ(twice.exit_code, 2) << twice.err;
}

TEST_F(TranscribeCli, AnUnusableOutputFolderIsFoundBeforeTheModelLoads) {
  const std::string root = testing::make_temp_dir("bad-output-dir");
  std::ofstream(root + "/file") << "x";
  const auto run = testing::run_command(
      testing::glmasr_binary() + " transcribe --device cpu --model /nonexistent -o " +
      shell_quote(root + "/file/sub") + " " + shell_quote(audio_path("jfk.wav")));
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("-o " + root + "/file/sub: cannot create the folder: Not a directory"),
            std::string::npos)
      << run.err;
  EXPECT_EQ(run.err.find("model folder"), std::string::npos) << run.err;
}

TEST_F(TranscribeCli, EachInputIsWrittenAsSoonAsItIsFinished) {
  const std::string dir = testing::make_temp_dir("incremental");
  // The second input is standard input, held open until the first input's output exists: if
  // outputs were written only at the end this would wait forever (bounded below).
  const std::string command = testing::glmasr_binary() +
                              " transcribe --device cpu --quiet --max-new-tokens 3 --model " +
                              shell_quote(model_dir()) + " -o " + shell_quote(dir + "/out") + " " +
                              shell_quote(audio_path("jfk.wav")) + " - >" +
                              shell_quote(dir + "/stdout") + " 2>" + shell_quote(dir + "/stderr");
  FILE* child_stdin = ::popen(command.c_str(), "w");
  ASSERT_NE(child_stdin, nullptr);
  const std::string first = dir + "/out/jfk.wav.txt";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (!fs::exists(first) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const bool written_early = fs::exists(first);
  // Now the second input: the same recording as a WAV stream.
  const std::string wav = read_file(audio_path("jfk.wav"));
  std::fwrite(wav.data(), 1, wav.size(), child_stdin);
  const int status = ::pclose(child_stdin);
  EXPECT_TRUE(written_early) << "the first file's output did not appear while stdin was open";
  EXPECT_EQ(status, 0) << read_file(dir + "/stderr");
  EXPECT_EQ(read_file(dir + "/out/stdin.txt"), read_file(first));
}

TEST_F(TranscribeCli, ContainersOnStandardInputAreDecodedAsSuch) {
  for (const std::string name : {"jfk.wav", "1272-128104-0000.flac", "bcn_weather.mp3"}) {
    const auto from_file =
        transcribe("--format json --max-new-tokens 4", shell_quote(audio_path(name)));
    ASSERT_EQ(from_file.exit_code, 0) << from_file.err;
    const auto from_stdin =
        transcribe("--format json --max-new-tokens 4", "- < " + shell_quote(audio_path(name)));
    ASSERT_EQ(from_stdin.exit_code, 0) << name << ": " << from_stdin.err;
    const auto a = json_lines(from_file.out), b = json_lines(from_stdin.out);
    ASSERT_EQ(a.size(), 1u);
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0]["tokens"], a[0]["tokens"]) << name;
    EXPECT_EQ(b[0]["duration"], a[0]["duration"]) << name;
  }
  // Raw PCM has no header: its rate must be given, and the message names the option.
  const auto raw = testing::run_command("head -c 64000 /dev/zero | " + testing::glmasr_binary() +
                                        " transcribe --device cpu --quiet --model " +
                                        shell_quote(model_dir()) + " -");
  EXPECT_EQ(raw.exit_code, 1);
  EXPECT_NE(raw.err.find("--input-rate"), std::string::npos) << raw.err;
}

}  // namespace
}  // namespace glmasr
