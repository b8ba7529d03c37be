// libFuzzer target for what the service does with a raw HTTP request before the engine: Beast's
// request parser with the server's limits (server/request_parsing.h), the refusal of a request
// that does not parse, and the routes and option parsing of TranscriptionApi (uploads, query
// strings, CORS, models, health, metrics) on a fake engine backend that always succeeds. The
// input is the bytes a client sends on one connection: up to kMaxRequests pipelined requests.
// Invariants besides no crash: every request is answered exactly once before the handler
// returns, with a valid status; a request the client got wrong is answered 4xx, never 5xx (a
// 505 for an HTTP version other than 1.0/1.1 excepted); every JSON body parses, and an error
// body names its error; a streamed answer is server-sent events of JSON.
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "server/request_parsing.h"
#include "server/transcription_api.h"

namespace {

namespace http = boost::beast::http;
using glmasr::fuzz::violated;
using glmasr::server::HttpResponse;
using nlohmann::json;

constexpr const char* kTarget = "request_fuzz";
constexpr int kMaxRequests = 4;

// Records the one answer of a request and checks its shape as it comes.
class CheckingResponder : public glmasr::server::Responder {
 public:
  void respond(HttpResponse response) override {
    if (answers_++ == 0) response_ = std::move(response);
  }
  void start_stream(glmasr::server::StreamHead head) override {
    if (answers_++ != 0) return;
    streamed_ = true;
    response_ = {.status = head.status,
                 .content_type = head.content_type,
                 .body = {},
                 .headers = head.headers,
                 .close = false};
  }
  void write_chunk(std::string data) override {
    if (!streamed_ || ended_) violated(kTarget, "a chunk outside an open stream");
    if (data.rfind("data: ", 0) != 0 || data.size() < 8 ||
        data.compare(data.size() - 2, 2, "\n\n") != 0)
      violated(kTarget, "a stream chunk that is not one server-sent event: " + data);
    const std::string payload = data.substr(6, data.size() - 8);
    if (payload != "[DONE]" && json::parse(payload, nullptr, false).is_discarded())
      violated(kTarget, "a server-sent event that is not JSON: " + payload);
  }
  void end_stream() override {
    if (!streamed_ || ended_) violated(kTarget, "end_stream outside an open stream");
    ended_ = true;
  }
  std::shared_ptr<std::atomic<bool>> cancelled_flag() const override {
    return cancellation_.flag();
  }
  void on_cancel(std::function<void()> callback) override {
    cancellation_.on_cancel(std::move(callback));
  }

  // After the handler returned (the fake backend answers before that).
  const HttpResponse& answer() const {
    if (answers_ != 1) violated(kTarget, std::to_string(answers_) + " answers to one request");
    if (streamed_ && !ended_) violated(kTarget, "a stream that was never ended");
    return response_;
  }
  bool streamed() const { return streamed_; }

 private:
  int answers_ = 0;
  bool streamed_ = false, ended_ = false;
  HttpResponse response_;
  glmasr::server::Cancellation cancellation_;
};

void check_response(const HttpResponse& response, bool allow_505, const std::string& what) {
  if (response.status < 200 || response.status > 599)
    violated(kTarget, "status " + std::to_string(response.status) + " for " + what);
  if (response.status >= 500 && !(allow_505 && response.status == 505))
    violated(kTarget, "a client's request answered " + std::to_string(response.status) + " (" +
                          response.body + ") for " + what);
  if (response.content_type != "application/json") return;
  const json body = json::parse(response.body, nullptr, false);
  if (body.is_discarded()) violated(kTarget, "a JSON answer that does not parse: " + response.body);
  if (response.status >= 400 &&
      !(body.contains("error") && body["error"].contains("message") &&
        body["error"]["message"].is_string() && !body["error"]["message"].empty()))
    violated(kTarget, "an error answer without error.message: " + response.body);
}

// The engine: every job is transcribed at once, streamed when asked, with the job's audio
// checked against the service's limit.
struct FakeService {
  FakeService() {
    state.model_loaded = true;
    glmasr::server::ApiOptions options;
    options.max_audio_seconds = kMaxAudioSeconds;
    options.cors = glmasr::server::CorsPolicy::parse("https://app.example, http://localhost:3000");
    api = std::make_unique<glmasr::server::TranscriptionApi>(
        options,
        [](glmasr::server::TranscriptionJob job, glmasr::server::TranscriptionDone done) {
          if (job.audio.seconds() > kMaxAudioSeconds + 0.01)
            violated(kTarget, "a job longer than max_audio_seconds reached the engine");
          glmasr::Transcript transcript;
          transcript.source = job.audio.source;
          transcript.duration = job.audio.seconds();
          transcript.text = "fuzz \"text\" \xc3\xa9";
          glmasr::TranscriptSegment segment;
          segment.end = transcript.duration;
          segment.text = transcript.text;
          segment.tokens = {1, 2, 3};
          segment.stop_reason = "eos";
          transcript.segments.push_back(segment);
          if (job.on_text_delta) {
            job.on_text_delta("fuzz ");
            job.on_text_delta("\"text\" \xc3\xa9");
          }
          glmasr::server::TranscriptionOutcome outcome;
          outcome.result.source = job.audio.source;
          outcome.result.transcript = std::move(transcript);
          done(std::move(outcome));
        },
        state, registry);
  }
  static constexpr double kMaxAudioSeconds = 30;
  glmasr::server::ServiceState state;
  glmasr::server::MetricsRegistry registry;
  std::unique_ptr<glmasr::server::TranscriptionApi> api;
};

// Feeds `input` to a fresh parser as the connection reads it: the head, then the body, then
// end of stream when the bytes run out. Returns the bytes consumed (0: stop this connection).
size_t serve_one(std::string_view input, FakeService& service,
                 const glmasr::server::RequestLimits& limits) {
  glmasr::server::BeastRequestParser parser;
  glmasr::server::ChunkHeaderCallback on_chunk_header;
  bool extension_too_long = false;
  glmasr::server::limit_request_parser(parser, limits, on_chunk_header, extension_too_long);
  parser.eager(true);
  size_t used = 0;
  boost::beast::error_code error;
  while (!parser.is_done() && !error) {
    const size_t consumed =
        parser.put(boost::asio::buffer(input.data() + used, input.size() - used), error);
    used += consumed;
    // need_more: what is left is a partial element and nothing more will come.
    if (error == http::error::need_more || (!error && consumed == 0)) {
      error = {};
      parser.put_eof(error);
      if (!error && !parser.is_done()) return 0;
    }
  }
  if (error) {
    const auto refusal =
        glmasr::server::refusal_for(error, parser.is_header_done(), extension_too_long, limits);
    if (refusal) check_response(*refusal, true, "a request that does not parse");
    return 0;  // the server closes the connection after a refusal
  }
  // A WebSocket upgrade leaves HTTP for the realtime socket (not fuzzed here).
  if (boost::beast::iequals(parser.get()[http::field::upgrade], "websocket")) return 0;
  glmasr::server::HttpRequest request = glmasr::server::to_http_request(parser.release());
  const bool keep_alive = request.keep_alive;
  const std::string what = request.method + " " + request.target;
  auto responder = std::make_shared<CheckingResponder>();
  glmasr::fuzz::expect_only_glmasr_errors(
      kTarget, [&] { service.api->handle(std::move(request), responder); });
  check_response(responder->answer(), false, what);
  // GLMASR_FUZZ_TRACE=1: each answer on stderr (to see what a seed or regression reaches).
  static const bool trace = std::getenv("GLMASR_FUZZ_TRACE") != nullptr;
  if (trace)
    std::fprintf(stderr, "%s -> %d %s%s\n", what.c_str(), responder->answer().status,
                 responder->streamed() ? "(stream) " : "",
                 responder->answer().body.substr(0, 160).c_str());
  return keep_alive ? used : 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static FakeService service;
  static const glmasr::server::RequestLimits limits =
      glmasr::server::request_limits_of(glmasr::server::HttpServerOptions{});
  const auto copy = glmasr::fuzz::exact_copy(data, size);
  std::string_view input(copy.get(), size);
  for (int i = 0; i < kMaxRequests && !input.empty(); ++i) {
    const size_t used = serve_one(input, service, limits);
    if (used == 0) break;
    input.remove_prefix(used);
  }
  return 0;
}
