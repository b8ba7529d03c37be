// glmasr stream through the real binary on the tiny checkpoint (CPU): VAD turns of PCM on
// standard input, each equal to `glmasr transcribe` on exactly that turn's samples; a file fed
// at real-time speed; usage errors.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "audio/audio_file.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using nlohmann::json;
using testing::shell_quote;

constexpr int kRate = 16000;

std::string model_dir() {
  return testing::data_dir() + "/tiny";
}

std::string glmasr(const std::string& command) {
  return testing::glmasr_binary() + " " + command + " --device cpu --model " +
         shell_quote(model_dir()) + " --max-new-tokens 8";
}

void write_pcm_to(std::ofstream& out, const std::vector<int16_t>& samples) {
  out.write(reinterpret_cast<const char*>(samples.data()),
            static_cast<std::streamsize>(samples.size() * 2));
}

void write_pcm(const std::string& path, const std::vector<int16_t>& samples) {
  std::ofstream out(path, std::ios::binary);
  write_pcm_to(out, samples);
}

// A 16-bit mono WAV of exactly these samples (no float round trip).
void write_wav16(const std::string& path, const std::vector<int16_t>& samples) {
  std::ofstream out(path, std::ios::binary);
  const auto u32 = [&](uint32_t v) { out.write(reinterpret_cast<const char*>(&v), 4); };
  const auto u16 = [&](uint16_t v) { out.write(reinterpret_cast<const char*>(&v), 2); };
  const uint32_t bytes = static_cast<uint32_t>(samples.size() * 2);
  out.write("RIFF", 4);
  u32(36 + bytes);
  out.write("WAVEfmt ", 8);
  u32(16);
  u16(1);  // PCM
  u16(1);  // mono
  u32(kRate);
  u32(kRate * 2);
  u16(2);
  u16(16);
  out.write("data", 4);
  u32(bytes);
  write_pcm_to(out, samples);
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(json::parse(line));
  return lines;
}

std::vector<int16_t> speech_samples() {
  const Audio audio = read_audio(testing::shared_dir() + "/audio/jfk.wav");  // 16 kHz already
  std::vector<int16_t> samples;
  for (const float x : audio.samples) samples.push_back(static_cast<int16_t>(x * 32768.0f));
  return samples;
}

class StreamCli : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
    dir_ = testing::make_temp_dir("stream-cli");
  }
  std::string dir_;
};

TEST_F(StreamCli, VadTurnsOfStdinEqualTranscribeOnEachTurnsSamples) {
  const std::vector<int16_t> speech = speech_samples();
  std::vector<int16_t> all(kRate / 2, 0);
  for (int copy = 0; copy < 2; ++copy) {
    all.insert(all.end(), speech.begin(), speech.end());
    all.insert(all.end(), kRate, 0);  // a 1 s pause between the turns
  }
  write_pcm(dir_ + "/in.pcm", all);
  const auto result = testing::run_command(glmasr("stream") + " --format jsonl - < " +
                                           shell_quote(dir_ + "/in.pcm"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::map<std::string, std::pair<int64_t, int64_t>> bounds;
  std::vector<json> completed;
  for (const json& event : json_lines(result.out)) {
    if (event["type"] == "input_audio_buffer.speech_started")
      bounds[event["item_id"]].first = event["audio_start_ms"];
    if (event["type"] == "input_audio_buffer.speech_stopped")
      bounds[event["item_id"]].second = event["audio_end_ms"];
    if (event["type"] == "conversation.item.input_audio_transcription.completed")
      completed.push_back(event);
  }
  ASSERT_EQ(completed.size(), 2u) << result.out;
  for (const json& turn : completed) {
    const auto [start_ms, end_ms] = bounds.at(turn["item_id"]);
    ASSERT_LT(start_ms, end_ms);
    const std::vector<int16_t> samples(
        all.begin() + start_ms * kRate / 1000,
        all.begin() + std::min<int64_t>(end_ms * kRate / 1000, all.size()));
    const std::string wav = dir_ + "/" + turn["item_id"].get<std::string>() + ".wav";
    write_wav16(wav, samples);
    const auto offline = testing::run_command(glmasr("transcribe") +
                                              " --quiet --format verbose_json " + shell_quote(wav));
    ASSERT_EQ(offline.exit_code, 0) << offline.err;
    const json reference = json::parse(offline.out);
    EXPECT_EQ(turn["transcript"], reference["text"]);
    size_t tokens = 0;
    for (const json& segment : reference["segments"]) tokens += segment["tokens"].size();
    EXPECT_EQ(turn["usage"]["output_tokens"], tokens);
  }
}

TEST_F(StreamCli, RealtimeFileIsFedAtRealTimeSpeedAndPrintsALinePerTurn) {
  std::vector<int16_t> speech = speech_samples();
  speech.resize(2 * kRate);  // "And so my fellow Americans": 2 s
  speech.insert(speech.end(), kRate / 2, 0);
  write_wav16(dir_ + "/short.wav", speech);
  const auto start = std::chrono::steady_clock::now();
  const auto result =
      testing::run_command(glmasr("stream") + " --realtime " + shell_quote(dir_ + "/short.wav"));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_GE(seconds, 2.3);  // 2.5 s of audio, handed over as it would be spoken
  EXPECT_FALSE(result.out.empty());
  EXPECT_EQ(result.out.back(), '\n');
}

TEST_F(StreamCli, InterimHypothesesOfARealtimeFileAsJsonLines) {
  std::vector<int16_t> speech = speech_samples();
  speech.resize(4 * kRate);
  speech.insert(speech.end(), kRate / 2, 0);
  write_wav16(dir_ + "/three.wav", speech);
  const auto result =
      testing::run_command(glmasr("stream") + " --format jsonl --interim 500 --realtime " +
                           shell_quote(dir_ + "/three.wav"));
  ASSERT_EQ(result.exit_code, 0) << result.err;
  size_t interim = 0, completed = 0;
  std::string item;
  for (const json& event : json_lines(result.out)) {
    if (event["type"] == "conversation.item.input_audio_transcription.interim") {
      ++interim;
      const std::string transcript = event["transcript"], agreed = event["agreed"];
      EXPECT_EQ(transcript.rfind(agreed, 0), 0u) << event;
      item = event["item_id"];
    }
    if (event["type"] == "conversation.item.input_audio_transcription.completed") {
      ++completed;
      EXPECT_EQ(event["item_id"], item);  // the interim results were of this turn
    }
  }
  // At most one interim pass is in flight per session, and a loaded machine (CI under the
  // sanitizers) finishes fewer of them within the turn: one is what every machine must show.
  EXPECT_GE(interim, 1u) << result.out;
  EXPECT_EQ(completed, 1u) << result.out;
}

TEST_F(StreamCli, UsageErrorsExit2) {
  EXPECT_EQ(testing::run_command(glmasr("stream")).exit_code, 2);
  EXPECT_EQ(testing::run_command(glmasr("stream") + " --rate 44100 - < /dev/null").exit_code, 2);
  const auto both = testing::run_command(glmasr("stream") + " --realtime x.wav -");
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_NE(both.err.find("--realtime"), std::string::npos);
}

}  // namespace
}  // namespace glmasr
