// stream=true on POST /v1/audio/transcriptions: OpenAI's server-sent events (deltas, done with
// usage, [DONE]), errors before and after the first event, the option's parsing, and a client
// that disconnects mid-stream cancelling the job (through the real Beast server).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/http_server.h"
#include "server/sse_transcription.h"
#include "server/transcription_api.h"
#include "server_test_audio.h"
#include "server_test_client.h"

namespace glmasr::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// Records a streamed answer: its head, chunks and end, or a whole response.
class StreamRecorder : public Responder {
 public:
  void respond(HttpResponse response) override {
    std::lock_guard lock(mutex_);
    if (!answered_) whole = std::move(response);
    answered_ = true;
    changed_.notify_all();
  }
  void start_stream(StreamHead h) override {
    std::lock_guard lock(mutex_);
    if (!answered_) head = std::move(h);
    answered_ = true;
  }
  void write_chunk(std::string data) override {
    std::lock_guard lock(mutex_);
    if (head) body += data;
  }
  void end_stream() override {
    std::lock_guard lock(mutex_);
    ended = true;
    changed_.notify_all();
  }
  std::shared_ptr<std::atomic<bool>> cancelled_flag() const override {
    return cancellation_.flag();
  }
  void on_cancel(std::function<void()> callback) override {
    cancellation_.on_cancel(std::move(callback));
  }
  // Waits until the stream ended or a whole response came.
  bool wait() {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 5s, [&] { return ended || whole.has_value(); });
  }

  std::optional<HttpResponse> whole;
  std::optional<StreamHead> head;
  std::string body;
  bool ended = false;

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  mutable Cancellation cancellation_;
  bool answered_ = false;
};

// The `data:` payloads of a server-sent event body, in order.
std::vector<std::string> event_data(const std::string& body) {
  std::vector<std::string> events;
  size_t at = 0;
  while (at < body.size()) {
    const size_t end = body.find("\n\n", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event in: " << body;
      break;
    }
    const std::string event = body.substr(at, end - at);
    EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
    events.push_back(event.substr(6));
    at = end + 2;
  }
  return events;
}

TEST(SseTranscription, DeltasThenDoneWithUsageThenDone) {
  auto recorder = std::make_shared<StreamRecorder>();
  SseTranscription sse(recorder, {{"Access-Control-Allow-Origin", "*"}});
  sse.delta("hel");
  sse.delta("");  // nothing to send
  sse.delta("lo \xc3\xa9");
  sse.done("hello \xc3\xa9", 40, 3);
  sse.delta("late");  // after done: dropped
  ASSERT_TRUE(recorder->head);
  EXPECT_EQ(recorder->head->status, 200);
  EXPECT_EQ(recorder->head->content_type, "text/event-stream");
  bool cors = false, no_cache = false;
  for (const auto& [name, value] : recorder->head->headers) {
    cors |= name == "Access-Control-Allow-Origin" && value == "*";
    no_cache |= name == "Cache-Control" && value == "no-cache";
  }
  EXPECT_TRUE(cors && no_cache);
  EXPECT_TRUE(recorder->ended);
  const auto events = event_data(recorder->body);
  ASSERT_EQ(events.size(), 4u) << recorder->body;
  EXPECT_EQ(json::parse(events[0]), json({{"type", "transcript.text.delta"}, {"delta", "hel"}}));
  EXPECT_EQ(json::parse(events[1])["delta"], "lo \xc3\xa9");
  const json done = json::parse(events[2]);
  EXPECT_EQ(done["type"], "transcript.text.done");
  EXPECT_EQ(done["text"], "hello \xc3\xa9");
  EXPECT_EQ(
      done["usage"],
      json({{"type", "tokens"}, {"input_tokens", 40}, {"output_tokens", 3}, {"total_tokens", 43}}));
  EXPECT_EQ(events[3], "[DONE]");
}

TEST(SseTranscription, AFailureBeforeTheFirstEventSendsNothing) {
  auto recorder = std::make_shared<StreamRecorder>();
  SseTranscription sse(recorder, {});
  EXPECT_FALSE(sse.fail(error_response(500, "boom")));
  sse.delta("late");
  EXPECT_FALSE(recorder->head);
  EXPECT_TRUE(recorder->body.empty());
}

TEST(SseTranscription, AFailureAfterTheFirstEventIsAnErrorEventAndTheEnd) {
  auto recorder = std::make_shared<StreamRecorder>();
  SseTranscription sse(recorder, {});
  sse.delta("a");
  EXPECT_TRUE(sse.fail(error_response(500, "the engine broke")));
  sse.done("a", 1, 1);  // too late: nothing more
  EXPECT_TRUE(recorder->ended);
  const auto events = event_data(recorder->body);
  ASSERT_EQ(events.size(), 2u) << recorder->body;
  const json error = json::parse(events[1]);
  EXPECT_EQ(error["error"]["message"], "the engine broke");
  EXPECT_EQ(error["error"]["type"], "server_error");
}

// A fake backend: streams the transcript's text in the pieces given, then finishes.
struct FakeBackend {
  std::vector<std::string> pieces = {"hello ", "\"wor", "ld\""};
  bool fail_after_first_piece = false;
  bool fail_before_any_piece = false;
  bool hold = false;  // keep the job (and its done) for the test
  std::mutex mutex;
  std::vector<std::pair<TranscriptionJob, TranscriptionDone>> held;

  void operator()(TranscriptionJob job, TranscriptionDone done) {
    if (hold) {
      std::lock_guard lock(mutex);
      held.emplace_back(std::move(job), std::move(done));
      return;
    }
    if (job.events.prompt_tokens) job.events.prompt_tokens(12);
    std::thread([this, job = std::move(job), done = std::move(done)]() mutable {
      TranscriptionOutcome outcome;
      std::string text;
      for (const std::string& piece : pieces) {
        text += piece;
        if (fail_before_any_piece) break;
        if (job.on_text_delta) job.on_text_delta(piece);
        if (fail_after_first_piece) break;
      }
      if (fail_before_any_piece || fail_after_first_piece) {
        outcome.result.error = "decoding failed";
      } else {
        Transcript transcript;
        transcript.text = text;
        transcript.duration = job.audio.seconds();
        transcript.segments.push_back({.id = 0,
                                       .start = 0,
                                       .end = 1,
                                       .text = text,
                                       .tokens = {5, 6, 7, 8},
                                       .avg_logprob = 0,
                                       .loop_detected = false,
                                       .stop_reason = "eos"});
        outcome.result.transcript = transcript;
      }
      done(std::move(outcome));
    }).join();
  }
};

class SseApi : public ::testing::Test {
 protected:
  void SetUp() override {
    state_.model_loaded = true;
    ApiOptions options;
    options.model_id = "tiny";
    api_ = std::make_unique<TranscriptionApi>(
        options,
        [this](TranscriptionJob job, TranscriptionDone done) {
          backend_(std::move(job), std::move(done));
        },
        state_, registry_);
  }
  std::shared_ptr<StreamRecorder> post(
      const std::string& target, const std::vector<std::pair<std::string, std::string>>& fields) {
    HttpRequest request = make_request("POST", target);
    request.headers.emplace_back("Content-Type", "multipart/form-data; boundary=B");
    std::string body =
        "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
        "Content-Type: audio/wav\r\n\r\n" +
        test_audio::wav_bytes(1.0) + "\r\n";
    for (const auto& [name, value] : fields)
      body +=
          "--B\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" + value + "\r\n";
    request.body = body + "--B--\r\n";
    auto recorder = std::make_shared<StreamRecorder>();
    api_->handle(std::move(request), recorder);
    EXPECT_TRUE(recorder->wait());
    return recorder;
  }

  FakeBackend backend_;
  ServiceState state_;
  MetricsRegistry registry_;
  std::unique_ptr<TranscriptionApi> api_;
};

TEST_F(SseApi, JoinedDeltasEqualDoneTextEqualTheNonStreamedText) {
  const auto plain = post("/v1/audio/transcriptions", {});
  ASSERT_TRUE(plain->whole);
  const std::string text = json::parse(plain->whole->body)["text"];

  for (const char* where : {"form", "query"}) {
    const auto streamed = std::string(where) == "form"
                              ? post("/v1/audio/transcriptions", {{"stream", "true"}})
                              : post("/v1/audio/transcriptions?stream=true", {});
    ASSERT_TRUE(streamed->head) << where;
    EXPECT_TRUE(streamed->ended);
    const auto events = event_data(streamed->body);
    ASSERT_EQ(events.size(), 5u) << streamed->body;
    std::string joined;
    for (size_t i = 0; i < 3; ++i) {
      const json delta = json::parse(events[i]);
      EXPECT_EQ(delta["type"], "transcript.text.delta");
      joined += delta["delta"].get<std::string>();
    }
    const json done = json::parse(events[3]);
    EXPECT_EQ(done["type"], "transcript.text.done");
    EXPECT_EQ(done["text"], text);
    EXPECT_EQ(joined, text);
    EXPECT_EQ(done["usage"]["input_tokens"], 12);
    EXPECT_EQ(done["usage"]["output_tokens"], 4);
    EXPECT_EQ(done["usage"]["total_tokens"], 16);
    EXPECT_EQ(events[4], "[DONE]");
  }
}

TEST_F(SseApi, StreamFalseIsTheOrdinaryAnswer) {
  const auto answer = post("/v1/audio/transcriptions", {{"stream", "false"}});
  ASSERT_TRUE(answer->whole);
  EXPECT_EQ(answer->whole->status, 200);
  EXPECT_FALSE(answer->head);
}

TEST_F(SseApi, BadStreamOptionsAre400NamingThem) {
  const auto not_boolean = post("/v1/audio/transcriptions", {{"stream", "yes please"}});
  ASSERT_TRUE(not_boolean->whole);
  EXPECT_EQ(not_boolean->whole->status, 400);
  EXPECT_NE(not_boolean->whole->body.find("stream 'yes please'"), std::string::npos);
  const auto subtitles =
      post("/v1/audio/transcriptions", {{"stream", "true"}, {"response_format", "srt"}});
  ASSERT_TRUE(subtitles->whole);
  EXPECT_EQ(subtitles->whole->status, 400);
  EXPECT_NE(subtitles->whole->body.find("response_format 'srt'"), std::string::npos);
}

TEST_F(SseApi, AFailureBeforeAnyTextIsAnOrdinaryErrorStatus) {
  backend_.fail_before_any_piece = true;
  const auto answer = post("/v1/audio/transcriptions", {{"stream", "true"}});
  ASSERT_TRUE(answer->whole);
  EXPECT_EQ(answer->whole->status, 500);
  EXPECT_NE(answer->whole->body.find("decoding failed"), std::string::npos);
}

TEST_F(SseApi, AFailureAfterTextIsAnErrorEvent) {
  backend_.fail_after_first_piece = true;
  const auto answer = post("/v1/audio/transcriptions", {{"stream", "true"}});
  ASSERT_TRUE(answer->head);
  EXPECT_TRUE(answer->ended);
  const auto events = event_data(answer->body);
  ASSERT_EQ(events.size(), 2u) << answer->body;
  EXPECT_EQ(json::parse(events[0])["delta"], "hello ");
  EXPECT_EQ(json::parse(events[1])["error"]["message"], "decoding failed");
}

// Through the Beast server: the client reads the first delta, then goes away; the job's
// cancelled flag (what the engine loop drops the work on) is set.
TEST_F(SseApi, AClientThatDisconnectsMidStreamCancelsTheJob) {
  backend_.hold = true;
  HttpServerOptions options;
  options.port = 0;
  options.io_threads = 1;
  HttpServer server(options, [this](HttpRequest request, ResponderPtr responder) {
    api_->handle(std::move(request), std::move(responder));
  });
  std::thread serving([&] { server.run(); });

  const std::string audio = test_audio::wav_bytes(1.0);
  std::string body =
      "--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n\r\n" + audio +
      "\r\n--B\r\nContent-Disposition: form-data; name=\"stream\"\r\n\r\n" + "true\r\n--B--\r\n";
  std::shared_ptr<const std::atomic<bool>> cancelled;
  {
    test_client::Connection client(server.port());
    ASSERT_TRUE(client.connected());
    client.send(
        "POST /v1/audio/transcriptions HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: multipart/form-data; boundary=B\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    for (int i = 0; i < 500; ++i) {
      {
        std::lock_guard lock(backend_.mutex);
        if (!backend_.held.empty()) break;
      }
      std::this_thread::sleep_for(10ms);
    }
    std::lock_guard lock(backend_.mutex);
    ASSERT_EQ(backend_.held.size(), 1u);
    TranscriptionJob& job = backend_.held[0].first;
    cancelled = job.cancelled;
    ASSERT_TRUE(job.on_text_delta);
    job.on_text_delta("first");
    EXPECT_FALSE(cancelled->load());
  }
  // Read nothing more: the connection closed above (the client's destructor).
  for (int i = 0; i < 500 && !cancelled->load(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(cancelled->load());
  {
    std::lock_guard lock(backend_.mutex);
    backend_.held[0].first.on_text_delta("late");  // into a closed connection: dropped
    backend_.held[0].second({.result = {}, .failure = nullptr, .cancelled = true});
    backend_.held.clear();
  }
  server.request_stop();
  serving.join();
}

}  // namespace
}  // namespace glmasr::server
