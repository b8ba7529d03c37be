// The Realtime transcription-session protocol without sockets, on a fake transcription
// function: session events, manual and VAD turns (the exact samples each turn hands over),
// deltas and completion, interim hypotheses with LocalAgreement-2, every bad input as an error
// event with the session going on, the session audio limit closing with 1008, and a
// disconnect cancelling the work.
#include "stream/realtime_session.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "audio/resample.h"
#include "stream/base64.h"

namespace glmasr::stream {
namespace {

using nlohmann::json;

// Transcribes every turn as "turn <n>" in two deltas, at once or when the test says.
struct FakeTranscriber {
  bool hold = false;
  std::vector<std::string> interim_texts;  // the hypotheses background requests get, in order
  bool fail = false;
  bool throw_instead = false;
  std::vector<TurnRequest> requests;
  std::vector<std::function<void(TurnResult)>> held;
  size_t interim_calls = 0;
  size_t turns = 0;

  void operator()(TurnRequest request, std::function<void(TurnResult)> done) {
    if (throw_instead) throw std::runtime_error("the engine is gone");
    requests.push_back(request);
    if (hold) {
      held.push_back(std::move(done));
      return;
    }
    if (request.background) {
      const std::string text = interim_calls < interim_texts.size()
                                   ? interim_texts[interim_calls]
                                   : "more " + std::to_string(interim_calls);
      ++interim_calls;
      done({.transcript = text, .error = "", .input_tokens = 0, .output_tokens = 0});
      return;
    }
    if (fail)
      return done({.transcript = std::nullopt,
                   .error = "decoder broke",
                   .input_tokens = 0,
                   .output_tokens = 0});
    const std::string text = "turn " + std::to_string(++turns);
    request.on_delta("turn ");
    request.on_delta(text.substr(5));
    done({.transcript = text, .error = "", .input_tokens = 30, .output_tokens = 2});
  }
};

class Session : public ::testing::Test {
 protected:
  void open(RealtimeLimits limits = {}) {
    session_ =
        RealtimeSession::create("tiny", limits,
                                [this](TurnRequest request, std::function<void(TurnResult)> done) {
                                  fake_(std::move(request), std::move(done));
                                },
                                {.send = [this](const json& event) { events_.push_back(event); },
                                 .close =
                                     [this](int code, const std::string& reason) {
                                       close_code_ = code;
                                       close_reason_ = reason;
                                     }});
    session_->start();
  }
  void SetUp() override { open(); }

  void send(const json& event) { session_->handle_event(event.dump()); }
  void manual(int rate = 16000, json extra = json::object()) {
    json input = {{"format", {{"type", "audio/pcm"}, {"rate", rate}}}, {"turn_detection", nullptr}};
    input.update(extra);
    send({{"type", "session.update"},
          {"session", {{"type", "transcription"}, {"audio", {{"input", input}}}}}});
  }
  void append(const std::vector<int16_t>& samples) {
    const std::string bytes(reinterpret_cast<const char*>(samples.data()), samples.size() * 2);
    send({{"type", "input_audio_buffer.append"}, {"audio", encode_base64(bytes)}});
  }
  // The events of `type` since the start.
  std::vector<json> of(const std::string& type) const {
    std::vector<json> found;
    for (const json& event : events_)
      if (event["type"] == type) found.push_back(event);
    return found;
  }
  json last() const { return events_.back(); }

  FakeTranscriber fake_;
  std::shared_ptr<RealtimeSession> session_;
  std::vector<json> events_;
  int close_code_ = 0;
  std::string close_reason_;
};

std::vector<int16_t> tone(size_t count, double amplitude = 0.3, int rate = 16000) {
  std::vector<int16_t> samples(count);
  for (size_t i = 0; i < count; ++i)
    samples[i] =
        static_cast<int16_t>(amplitude * 32767 * std::sin(2 * M_PI * 200 * double(i) / rate));
  return samples;
}

TEST_F(Session, StartsWithSessionCreatedAndUpdatesEcho) {
  ASSERT_EQ(events_.size(), 1u);
  EXPECT_EQ(events_[0]["type"], "session.created");
  EXPECT_EQ(events_[0]["session"]["audio"]["input"]["format"]["rate"], 24000);
  EXPECT_EQ(events_[0]["session"]["audio"]["input"]["turn_detection"]["type"], "server_vad");
  EXPECT_TRUE(events_[0]["event_id"].is_string());
  send({{"type", "session.update"},
        {"session",
         {{"type", "transcription"},
          {"audio",
           {{"input",
             {{"format", {{"type", "audio/pcm"}, {"rate", 16000}}},
              {"transcription", {{"model", "m"}, {"prompt", "names: Ada"}, {"language", "en"}}},
              {"turn_detection",
               {{"type", "server_vad"}, {"threshold", 0.7}, {"silence_duration_ms", 300}}},
              {"interim", {{"enabled", true}, {"interval_ms", 500}}}}}}}}}});
  const json session = last()["session"]["audio"]["input"];
  EXPECT_EQ(last()["type"], "session.updated");
  EXPECT_EQ(session["format"]["rate"], 16000);
  EXPECT_EQ(session["transcription"]["prompt"], "names: Ada");
  EXPECT_EQ(session["turn_detection"]["threshold"], 0.7);
  EXPECT_EQ(session["turn_detection"]["silence_duration_ms"], 300);
  EXPECT_EQ(session["turn_detection"]["prefix_padding_ms"], 300);  // the default stays
  EXPECT_EQ(session["interim"]["enabled"], true);
  EXPECT_EQ(session["interim"]["interval_ms"], 500);
}

TEST_F(Session, ManualTurnsAreCommittedResampledAndTranscribedWithDeltas) {
  manual(24000, {{"transcription", {{"prompt", "hot words"}}}});
  const auto samples = tone(24000);  // 1 s at 24 kHz
  append(samples);
  send({{"type", "input_audio_buffer.commit"}});
  ASSERT_EQ(fake_.requests.size(), 1u);
  const TurnRequest& request = fake_.requests[0];
  EXPECT_FALSE(request.background);
  EXPECT_EQ(request.prompt, "hot words");
  std::vector<float> expected(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) expected[i] = samples[i] / 32768.0f;
  EXPECT_EQ(request.audio.samples, resample(expected, 24000, 16000));  // exactly those samples

  const auto committed = of("input_audio_buffer.committed");
  ASSERT_EQ(committed.size(), 1u);
  EXPECT_EQ(committed[0]["item_id"], "item_1");
  EXPECT_TRUE(committed[0]["previous_item_id"].is_null());
  const auto deltas = of("conversation.item.input_audio_transcription.delta");
  ASSERT_EQ(deltas.size(), 2u);
  EXPECT_EQ(deltas[0]["item_id"], "item_1");
  EXPECT_EQ(deltas[0]["content_index"], 0);
  const auto completed = of("conversation.item.input_audio_transcription.completed");
  ASSERT_EQ(completed.size(), 1u);
  EXPECT_EQ(completed[0]["transcript"], "turn 1");
  EXPECT_EQ(deltas[0]["delta"].get<std::string>() + deltas[1]["delta"].get<std::string>(),
            "turn 1");
  EXPECT_EQ(
      completed[0]["usage"],
      json({{"type", "tokens"}, {"input_tokens", 30}, {"output_tokens", 2}, {"total_tokens", 32}}));

  append(tone(4800));
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(of("input_audio_buffer.committed")[1]["previous_item_id"], "item_1");
  EXPECT_EQ(of("input_audio_buffer.committed")[1]["item_id"], "item_2");
  EXPECT_EQ(fake_.requests[1].audio.samples.size(), 3200u);  // only the new audio
}

TEST_F(Session, CommitNeedsAudioAndClearDropsIt) {
  manual();
  send({{"type", "input_audio_buffer.commit"}, {"event_id", "c1"}});
  EXPECT_EQ(last()["type"], "error");
  EXPECT_EQ(last()["error"]["code"], "input_audio_buffer_commit_empty");
  EXPECT_EQ(last()["error"]["event_id"], "c1");
  append(tone(16000));
  send({{"type", "input_audio_buffer.clear"}});
  EXPECT_EQ(last()["type"], "input_audio_buffer.cleared");
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(last()["error"]["code"], "input_audio_buffer_commit_empty");
  EXPECT_TRUE(fake_.requests.empty());
}

TEST_F(Session, VadTurnsCarryTheirBoundariesAndExactlyTheirSamples) {
  send({{"type", "session.update"},
        {"session",
         {{"audio",
           {{"input",
             {{"format", {{"type", "audio/pcm"}, {"rate", 16000}}},
              {"turn_detection",
               {{"type", "server_vad"},
                {"prefix_padding_ms", 200},
                {"silence_duration_ms", 400}}}}}}}}}});
  std::vector<int16_t> all(8000, 0);  // 500 ms of silence
  const auto speech = tone(16000);    // 1 s
  all.insert(all.end(), speech.begin(), speech.end());
  all.insert(all.end(), 16000, 0);  // 1 s of silence
  for (size_t at = 0; at < all.size(); at += 1234)
    append({all.begin() + at, all.begin() + std::min(all.size(), at + 1234)});

  const auto started = of("input_audio_buffer.speech_started");
  const auto stopped = of("input_audio_buffer.speech_stopped");
  ASSERT_EQ(started.size(), 1u);
  ASSERT_EQ(stopped.size(), 1u);
  EXPECT_EQ(started[0]["audio_start_ms"], 500 - 200);
  EXPECT_EQ(stopped[0]["audio_end_ms"], 1500 + 400);
  EXPECT_EQ(started[0]["item_id"], stopped[0]["item_id"]);
  ASSERT_EQ(fake_.requests.size(), 1u);
  // The turn is the samples [start, end) of the session, resampled (16 kHz: unchanged).
  const int64_t from = 300 * 16, to = 1900 * 16;
  std::vector<float> expected;
  for (int64_t i = from; i < to; ++i) expected.push_back(all[i] / 32768.0f);
  EXPECT_EQ(fake_.requests[0].audio.samples, expected);
  EXPECT_EQ(of("conversation.item.input_audio_transcription.completed").size(), 1u);
}

TEST_F(Session, FinishInputCommitsAnOpenVadTurn) {
  manual();
  send({{"type", "session.update"},
        {"session", {{"audio", {{"input", {{"turn_detection", {{"type", "server_vad"}}}}}}}}}});
  append(tone(16000));
  EXPECT_TRUE(fake_.requests.empty());
  session_->finish_input();
  EXPECT_EQ(of("input_audio_buffer.speech_stopped").size(), 1u);
  EXPECT_EQ(fake_.requests.size(), 1u);
}

TEST_F(Session, InterimHypothesesOfTheOpenTurnWithTheirAgreedPrefix) {
  fake_.interim_texts = {"hello wor", "hello world", "hello world again"};
  manual(16000, {{"interim", {{"enabled", true}, {"interval_ms", 200}}}});
  for (int i = 0; i < 3; ++i) append(tone(3200));  // 200 ms each: one interim per append
  const auto interim = of("conversation.item.input_audio_transcription.interim");
  ASSERT_EQ(interim.size(), 3u);
  EXPECT_EQ(interim[0]["transcript"], "hello wor");
  EXPECT_EQ(interim[0]["agreed"], "");
  EXPECT_EQ(interim[1]["agreed"], "hello");
  EXPECT_EQ(interim[2]["agreed"], "hello world");
  EXPECT_EQ(interim[2]["audio_end_ms"], 600);
  EXPECT_EQ(interim[0]["item_id"], "item_1");
  for (const TurnRequest& request : fake_.requests) EXPECT_TRUE(request.background);
  EXPECT_EQ(fake_.requests[2].audio.samples.size(), 9600u);  // the whole open turn so far

  // Shorter than the interval: no new hypothesis.
  append(tone(1600));
  EXPECT_EQ(of("conversation.item.input_audio_transcription.interim").size(), 3u);
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_FALSE(fake_.requests.back().background);
}

TEST_F(Session, AStaleInterimHypothesisIsDropped) {
  manual(16000, {{"interim", {{"enabled", true}, {"interval_ms", 200}}}});
  fake_.hold = true;
  append(tone(3200));
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_TRUE(fake_.requests[0].background);
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_TRUE(fake_.requests[0].cancelled->load());   // the interim work is dropped
  EXPECT_FALSE(fake_.requests[1].cancelled->load());  // the committed turn is not
  fake_.held[0]({.transcript = "late", .error = "", .input_tokens = 0, .output_tokens = 0});
  EXPECT_TRUE(of("conversation.item.input_audio_transcription.interim").empty());
}

TEST_F(Session, EveryBadInputIsAnErrorEventAndTheSessionGoesOn) {
  manual();
  const size_t before = events_.size();
  session_->handle_event("{not json");
  EXPECT_EQ(last()["error"]["code"], "invalid_json");
  session_->handle_event("[1,2]");
  EXPECT_EQ(last()["error"]["code"], "invalid_event");
  send({{"type", "response.create"}, {"event_id", "evt_7"}});
  EXPECT_EQ(last()["error"]["code"], "unknown_event_type");
  EXPECT_EQ(last()["error"]["event_id"], "evt_7");
  EXPECT_EQ(last()["error"]["param"], "type");
  EXPECT_EQ(last()["error"]["type"], "invalid_request_error");
  send({{"type", "input_audio_buffer.append"}, {"audio", "%%%%"}});
  EXPECT_EQ(last()["error"]["code"], "invalid_base64");
  EXPECT_EQ(last()["error"]["param"], "audio");
  send({{"type", "input_audio_buffer.append"}, {"audio", encode_base64("abc")}});
  EXPECT_EQ(last()["error"]["code"], "invalid_audio_length");
  send({{"type", "input_audio_buffer.append"}});
  EXPECT_EQ(last()["error"]["code"], "invalid_audio");
  send({{"type", "session.update"},
        {"session",
         {{"audio", {{"input", {{"format", {{"type", "audio/pcm"}, {"rate", 44100}}}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "unsupported_sample_rate");
  EXPECT_EQ(last()["error"]["param"], "session.audio.input.format.rate");
  send({{"type", "session.update"},
        {"session", {{"audio", {{"input", {{"format", {{"type", "audio/pcmu"}}}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "unsupported_audio_format");
  send({{"type", "session.update"},
        {"session", {{"audio", {{"input", {{"turn_detection", {{"type", "semantic_vad"}}}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "unsupported_turn_detection");
  send({{"type", "session.update"},
        {"session",
         {{"audio",
           {{"input", {{"turn_detection", {{"type", "server_vad"}, {"threshold", 3}}}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "invalid_value");
  EXPECT_NE(last()["error"]["message"].get<std::string>().find("threshold"), std::string::npos);
  send({{"type", "session.update"}, {"session", {{"audio", {{"input", {{"format", 5}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "invalid_value");
  session_->handle_binary();
  EXPECT_EQ(last()["error"]["code"], "binary_not_supported");
  EXPECT_EQ(events_.size(), before + 12);  // one error each, nothing else

  // A refused update changed nothing; the session still works.
  append(tone(16000));
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(of("conversation.item.input_audio_transcription.completed").size(), 1u);
  EXPECT_EQ(fake_.requests[0].audio.samples.size(), 16000u);  // still 16 kHz
  // The rate is fixed once audio came.
  send({{"type", "session.update"},
        {"session",
         {{"audio", {{"input", {{"format", {{"type", "audio/pcm"}, {"rate", 24000}}}}}}}}}});
  EXPECT_EQ(last()["error"]["code"], "rate_change_after_audio");
  EXPECT_EQ(close_code_, 0);
}

TEST_F(Session, AppendsOverTheLimitAndAFullBufferAreRefused) {
  open({.max_session_seconds = 3600, .max_append_bytes = 1000, .max_buffer_seconds = 1});
  manual();
  append(tone(600));  // 1600 bytes of base64
  EXPECT_EQ(last()["error"]["code"], "audio_too_large");
  const size_t count = events_.size();
  for (int i = 0; i < 3; ++i) append(tone(300));
  EXPECT_EQ(events_.size(), count);  // accepted: appends are not acknowledged
  std::vector<int16_t> more(300);
  for (int i = 0; i < 60; ++i) append(more);
  EXPECT_EQ(last()["error"]["code"], "input_audio_buffer_full");
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(fake_.requests.size(), 1u);
  EXPECT_LE(fake_.requests[0].audio.samples.size(), 16000u);
}

// Found by tests/fuzz/realtime_fuzz.cpp (tests/data/fuzz_regressions/realtime): under
// server_vad, speech without a pause grew the buffer past max_buffer_seconds.
TEST_F(Session, AVadTurnWithoutAPauseIsCommittedAtTheBufferLimit) {
  open({.max_session_seconds = 3600, .max_append_bytes = 15u << 20, .max_buffer_seconds = 1});
  send({{"type", "session.update"},
        {"session",
         {{"audio", {{"input", {{"format", {{"type", "audio/pcm"}, {"rate", 16000}}}}}}}}}});
  append(tone(16000 * 5 / 2));  // 2.5 s of speech in one append
  EXPECT_LE(session_->buffered_samples(), 16000u);
  for (int i = 0; i < 10; ++i) {
    append(tone(1600));  // and on in 100 ms pieces
    EXPECT_LE(session_->buffered_samples(), 16000u);
  }
  const auto committed = of("input_audio_buffer.committed");
  ASSERT_EQ(committed.size(), 3u);  // 3.5 s: three full turns, half a second still open
  EXPECT_EQ(of("input_audio_buffer.speech_stopped").size(), 3u);
  ASSERT_EQ(fake_.requests.size(), 3u);
  for (const TurnRequest& request : fake_.requests) EXPECT_LE(request.audio.samples.size(), 16000u);
  // A new turn opens after each cut.
  EXPECT_EQ(of("input_audio_buffer.speech_started").size(), 4u);
}

TEST_F(Session, PastTheSessionLimitItClosesWith1008) {
  open({.max_session_seconds = 1, .max_append_bytes = 15u << 20, .max_buffer_seconds = 600});
  manual();
  append(tone(12000));
  EXPECT_EQ(close_code_, 0);
  append(tone(12000));
  EXPECT_EQ(last()["error"]["code"], "session_too_long");
  EXPECT_EQ(close_code_, kClosePolicyViolation);
  const size_t count = events_.size();
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(events_.size(), count);  // closed: nothing more
}

TEST_F(Session, AFailedOrThrowingTranscriptionIsAFailedEvent) {
  manual();
  fake_.fail = true;
  append(tone(16000));
  send({{"type", "input_audio_buffer.commit"}});
  auto failed = of("conversation.item.input_audio_transcription.failed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0]["item_id"], "item_1");
  EXPECT_EQ(failed[0]["error"]["message"], "decoder broke");
  fake_.fail = false;
  fake_.throw_instead = true;
  append(tone(16000));
  send({{"type", "input_audio_buffer.commit"}});
  failed = of("conversation.item.input_audio_transcription.failed");
  ASSERT_EQ(failed.size(), 2u);
  EXPECT_EQ(failed[1]["error"]["message"], "the engine is gone");
}

TEST_F(Session, ADisconnectCancelsTheWorkAndSilencesTheSession) {
  manual();
  fake_.hold = true;
  append(tone(16000));
  send({{"type", "input_audio_buffer.commit"}});
  ASSERT_EQ(fake_.requests.size(), 1u);
  EXPECT_FALSE(fake_.requests[0].cancelled->load());
  session_->close();
  EXPECT_TRUE(fake_.requests[0].cancelled->load());
  const size_t count = events_.size();
  fake_.requests[0].on_delta("late");
  fake_.held[0]({.transcript = "late", .error = "", .input_tokens = 1, .output_tokens = 1});
  send({{"type", "input_audio_buffer.commit"}});
  EXPECT_EQ(events_.size(), count);
}

}  // namespace
}  // namespace glmasr::stream
