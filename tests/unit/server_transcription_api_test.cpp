// The routes of glmasr serve with a fake asynchronous transcriber: formats, uploads in both
// shapes, every error a client can cause, health/readiness, metrics, models and CORS.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "server/transcription_api.h"
#include "server_fake_responder.h"
#include "server_test_audio.h"

namespace glmasr::server {
namespace {

using nlohmann::json;
using testing_responder::RecordingResponder;

const std::string kBoundary = "XyZ";

// What the fake transcriber does with each job.
struct Calls {
  std::vector<std::string> prompts;
  std::vector<double> seconds;
  std::string fail_with;          // when set: a failed InputResult with this error
  std::exception_ptr throw_this;  // when set: the backend reports this exception
  bool hold = false;              // when set: keep the job and its done for the test
  std::vector<std::pair<TranscriptionJob, TranscriptionDone>> held;
};

Transcript fake_transcript(const Audio& audio) {
  Transcript transcript;
  transcript.source = audio.source;
  transcript.duration = audio.seconds();
  transcript.text = "hello \"world\"";
  TranscriptSegment segment;
  segment.end = audio.seconds();
  segment.text = transcript.text;
  segment.tokens = {1, 2};
  segment.stop_reason = "eos";
  transcript.segments.push_back(segment);
  return transcript;
}

class Api {
 public:
  explicit Api(Calls& calls, ApiOptions options = defaults()) : calls_(calls) {
    state.model_loaded = true;
    api_ = std::make_unique<TranscriptionApi>(
        options,
        [this](TranscriptionJob job, TranscriptionDone done) {
          calls_.prompts.push_back(job.prompt);
          calls_.seconds.push_back(job.audio.seconds());
          if (calls_.hold) {
            calls_.held.emplace_back(std::move(job), std::move(done));
            return;
          }
          if (job.events.started) job.events.started();
          if (job.events.first_token) job.events.first_token();
          if (job.events.prompt_tokens) job.events.prompt_tokens(7);
          TranscriptionOutcome outcome;
          outcome.result.source = job.audio.source;
          if (calls_.throw_this)
            outcome.failure = calls_.throw_this;
          else if (!calls_.fail_with.empty())
            outcome.result.error = calls_.fail_with;
          else
            outcome.result.transcript = fake_transcript(job.audio);
          // Answer from another thread, as the engine does.
          std::thread([done = std::move(done), outcome = std::move(outcome)]() mutable {
            done(std::move(outcome));
          }).join();
        },
        state, registry);
  }
  static ApiOptions defaults() {
    ApiOptions options;
    options.model_id = "tiny";
    options.max_audio_seconds = 60;
    return options;
  }

  HttpResponse call(HttpRequest request) {
    auto responder = std::make_shared<RecordingResponder>();
    api_->handle(std::move(request), responder);
    return responder->wait();
  }
  std::shared_ptr<RecordingResponder> start(HttpRequest request) {
    auto responder = std::make_shared<RecordingResponder>();
    api_->handle(std::move(request), responder);
    return responder;
  }
  std::string metrics() { return call(make_request("GET", "/metrics")).body; }

  ServiceState state;
  MetricsRegistry registry;

 private:
  Calls& calls_;
  std::unique_ptr<TranscriptionApi> api_;
};

HttpRequest request(const std::string& method, const std::string& target) {
  return make_request(method, target);
}

HttpRequest multipart(const std::vector<std::pair<std::string, std::string>>& fields,
                      const std::string& file_bytes, const std::string& filename = "a.wav") {
  HttpRequest req = request("POST", "/v1/audio/transcriptions");
  req.headers.emplace_back("Content-Type", "multipart/form-data; boundary=" + kBoundary);
  std::string body;
  if (!filename.empty())
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
            filename + "\"\r\nContent-Type: audio/wav\r\n\r\n" + file_bytes + "\r\n";
  for (const auto& [name, value] : fields)
    body += "--" + kBoundary + "\r\nContent-Disposition: form-data; name=\"" + name + "\"\r\n\r\n" +
            value + "\r\n";
  req.body = body + "--" + kBoundary + "--\r\n";
  return req;
}

std::string error_message(const HttpResponse& response) {
  return json::parse(response.body)["error"]["message"];
}

std::string header(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers)
    if (key == name) return value;
  return "";
}

TEST(TranscriptionApi, HealthReadyAndModels) {
  Calls calls;
  Api api(calls);
  const HttpResponse health = api.call(request("GET", "/health"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::parse(health.body), json({{"status", "ok"}}));
  EXPECT_EQ(api.call(request("GET", "/ready")).status, 200);
  const HttpResponse models = api.call(request("GET", "/v1/models"));
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "tiny");
  EXPECT_EQ(json::parse(models.body)["object"], "list");
  const HttpResponse one = api.call(request("GET", "/v1/models/tiny"));
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(json::parse(one.body)["id"], "tiny");
  const HttpResponse other = api.call(request("GET", "/v1/models/whisper-1"));
  EXPECT_EQ(other.status, 404);
  EXPECT_EQ(json::parse(other.body)["error"]["code"], "model_not_found");
  EXPECT_EQ(json::parse(other.body)["error"]["param"], "model");
}

TEST(TranscriptionApi, NotReadyWhileLoadingDrainingOrAfterADeviceFault) {
  Calls calls;
  Api api(calls);
  api.state.model_loaded = false;
  EXPECT_EQ(api.call(request("GET", "/ready")).status, 503);
  api.state.model_loaded = true;
  api.state.draining = true;
  const HttpResponse draining = api.call(request("GET", "/ready"));
  EXPECT_EQ(draining.status, 503);
  EXPECT_NE(error_message(draining).find("shutting down"), std::string::npos);
  EXPECT_EQ(api.call(request("GET", "/health")).status, 200);  // alive all the same
}

TEST(TranscriptionApi, UnknownRoutesAndMethods) {
  Calls calls;
  Api api(calls);
  EXPECT_EQ(api.call(request("GET", "/v1/audio/translations")).status, 404);
  EXPECT_EQ(api.call(request("GET", "/")).status, 404);
  const HttpResponse wrong = api.call(request("GET", "/v1/audio/transcriptions"));
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(header(wrong, "Allow"), "POST");
  EXPECT_EQ(api.call(request("POST", "/health")).status, 405);
  EXPECT_EQ(api.call(request("DELETE", "/v1/models/tiny")).status, 405);
  // Without --allowed-origins a preflight is just an unsupported method.
  HttpRequest preflight = request("OPTIONS", "/v1/models");
  preflight.headers = {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "GET"}};
  const HttpResponse refused = api.call(preflight);
  EXPECT_EQ(refused.status, 405);
  EXPECT_EQ(header(refused, "Access-Control-Allow-Origin"), "");
}

TEST(TranscriptionApi, ErrorBodiesAreOpenAiStyle) {
  Calls calls;
  Api api(calls);
  const json body = json::parse(api.call(request("GET", "/nowhere")).body);
  ASSERT_TRUE(body.contains("error"));
  for (const char* field : {"message", "type", "param", "code"})
    EXPECT_TRUE(body["error"].contains(field)) << field;
  EXPECT_EQ(body["error"]["type"], "not_found_error");
}

TEST(TranscriptionApi, MultipartUploadInEveryFormat) {
  Calls calls;
  Api api(calls);
  const std::string wav = test_audio::wav_bytes(2.0);

  const HttpResponse plain = api.call(multipart({{"model", "whisper-1"}}, wav));
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.content_type, "application/json");
  EXPECT_EQ(json::parse(plain.body), json({{"text", "hello \"world\""}}));
  EXPECT_NEAR(calls.seconds.at(0), 2.0, 1e-3);
  EXPECT_EQ(calls.prompts.at(0), "");

  const HttpResponse text = api.call(multipart({{"response_format", "text"}}, wav));
  EXPECT_EQ(text.body, "hello \"world\"\n");
  EXPECT_EQ(text.content_type, "text/plain; charset=utf-8");

  const HttpResponse srt = api.call(multipart({{"response_format", "srt"}}, wav));
  EXPECT_EQ(srt.body.substr(0, 32), "1\n00:00:00,000 --> 00:00:02,000\n");
  const HttpResponse vtt = api.call(multipart({{"response_format", "vtt"}}, wav));
  EXPECT_EQ(vtt.body.substr(0, 6), "WEBVTT");

  const HttpResponse verbose = api.call(multipart(
      {{"response_format", "verbose_json"}, {"prompt", "Names: Kennedy"}}, wav, "jfk.wav"));
  const json parsed = json::parse(verbose.body);
  EXPECT_EQ(parsed["file"], "jfk.wav");
  EXPECT_EQ(parsed["segments"][0]["tokens"], json({1, 2}));
  EXPECT_EQ(calls.prompts.back(), "Names: Kennedy");
}

TEST(TranscriptionApi, RawAudioBodyWithQueryOptions) {
  Calls calls;
  Api api(calls);
  HttpRequest req =
      request("POST", "/v1/audio/transcriptions?response_format=text&prompt=hi+there");
  req.headers.emplace_back("Content-Type", "audio/wav");
  req.body = test_audio::wav_bytes(1.0);
  const HttpResponse response = api.call(req);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, "hello \"world\"\n");
  EXPECT_EQ(calls.prompts.at(0), "hi there");
}

// Server-Timing names where a request's time went: the engine's share is the time from its
// admission to its answer, inside the total.
TEST(TranscriptionApi, ServerTimingSplitsTheServiceFromTheEngine) {
  Calls calls;
  calls.hold = true;
  Api api(calls);
  auto responder = api.start(multipart({}, test_audio::wav_bytes(1.0)));
  ASSERT_EQ(calls.held.size(), 1u);
  auto& [job, done] = calls.held.front();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // log-mel and the wait for admission
  job.events.started();
  std::this_thread::sleep_for(std::chrono::milliseconds(40));  // the engine at work
  TranscriptionOutcome outcome;
  outcome.result.transcript = fake_transcript(job.audio);
  done(std::move(outcome));
  const HttpResponse response = responder->wait();
  ASSERT_EQ(response.status, 200) << response.body;
  const std::string timing = header(response, "Server-Timing");
  std::map<std::string, double> ms;
  for (const std::string name : {"audio", "prepare", "engine", "total"}) {
    const size_t at = timing.find(name + ";dur=");
    ASSERT_NE(at, std::string::npos) << name << " missing in: " << timing;
    ms[name] = std::stod(timing.substr(at + name.size() + 5));
  }
  EXPECT_GE(ms["prepare"], 20.0) << timing;
  EXPECT_GE(ms["engine"], 40.0) << timing;
  EXPECT_LT(ms["engine"], ms["total"]) << timing;
  EXPECT_NEAR(ms["audio"] + ms["prepare"] + ms["engine"], ms["total"], 0.01) << timing;
}

TEST(TranscriptionApi, ClientErrorsNameTheProblem) {
  Calls calls;
  ApiOptions options = Api::defaults();
  options.max_audio_seconds = 1.5;
  Api api(calls, options);
  const std::string wav = test_audio::wav_bytes(1.0);
  struct Case {
    HttpRequest request;
    int status;
    std::string message;
  };
  HttpRequest no_type = request("POST", "/v1/audio/transcriptions");
  no_type.body = wav;
  HttpRequest json_type = no_type;
  json_type.headers.emplace_back("Content-Type", "application/json");
  HttpRequest raw_empty = request("POST", "/v1/audio/transcriptions");
  raw_empty.headers.emplace_back("Content-Type", "audio/mpeg");
  HttpRequest bad_boundary = multipart({}, wav);
  bad_boundary.headers[0].second = "multipart/form-data";
  HttpRequest truncated = multipart({}, wav);
  truncated.body.resize(truncated.body.size() - 10);
  const std::vector<Case> cases = {
      {multipart({}, "this is a text file", "notes.txt"), 400, "'notes.txt' cannot be decoded"},
      {multipart({}, "", "empty.wav"), 400, "'empty.wav' is empty"},
      {multipart({{"prompt", "x"}}, "", ""), 400, "no 'file' field"},
      {multipart({{"response_format", "xml"}}, wav), 400, "unknown response_format 'xml'"},
      {multipart({}, test_audio::wav_bytes(2.0), "long.wav"), 413,
       "'long.wav' is longer than the 1.5 s limit"},
      {no_type, 415, "expected multipart/form-data or audio/*"},
      {json_type, 415, "unsupported Content-Type 'application/json'"},
      {raw_empty, 400, "is empty"},
      {bad_boundary, 400, "no boundary"},
      {truncated, 400, "ends without its closing boundary"},
  };
  for (const Case& c : cases) {
    const HttpResponse response = api.call(c.request);
    EXPECT_EQ(response.status, c.status) << response.body;
    EXPECT_NE(error_message(response).find(c.message), std::string::npos) << response.body;
  }
  EXPECT_TRUE(calls.prompts.empty());  // none of them reached the model
}

TEST(TranscriptionApi, UndecodablePercentEscapesAre400) {
  Calls calls;
  Api api(calls);
  HttpRequest req = request("POST", "/v1/audio/transcriptions?prompt=%zz");
  req.headers.emplace_back("Content-Type", "audio/wav");
  req.body = test_audio::wav_bytes(1.0);
  const HttpResponse response = api.call(req);
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_NE(error_message(response).find("percent escape"), std::string::npos);
  EXPECT_EQ(api.call(request("GET", "/v1/models/%g1")).status, 400);
}

TEST(TranscriptionApi, TranscriptionFailureIsAServerError) {
  Calls calls;
  calls.fail_with = "engine failed: out of memory";
  Api api(calls);
  const HttpResponse response = api.call(multipart({}, test_audio::wav_bytes(1.0)));
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(error_message(response), "engine failed: out of memory");
  EXPECT_EQ(json::parse(response.body)["error"]["type"], "server_error");
}

TEST(TranscriptionApi, InputErrorFromTheBackendIs400) {
  Calls calls;
  calls.throw_this = std::make_exception_ptr(InputError("the prompt is over 8192 tokens"));
  Api api(calls);
  const HttpResponse response = api.call(multipart({}, test_audio::wav_bytes(1.0)));
  EXPECT_EQ(response.status, 400) << response.body;
  EXPECT_EQ(error_message(response), "the prompt is over 8192 tokens");
  calls.throw_this = std::make_exception_ptr(Error("kernel launch failed"));
  EXPECT_EQ(api.call(multipart({}, test_audio::wav_bytes(1.0))).status, 500);
}

TEST(TranscriptionApi, DeviceFaultAnswers503MarksNotReadyAndReportsIt) {
  Calls calls;
  calls.throw_this = std::make_exception_ptr(DeviceError("CUDA error: illegal address"));
  std::string reported;
  ApiOptions options = Api::defaults();
  options.on_device_fault = [&](const std::string& message) { reported = message; };
  Api api(calls, options);
  const HttpResponse response = api.call(multipart({}, test_audio::wav_bytes(1.0)));
  EXPECT_EQ(response.status, 503) << response.body;
  EXPECT_TRUE(response.close);
  EXPECT_EQ(reported, "CUDA error: illegal address");
  EXPECT_TRUE(api.state.device_fault);
  EXPECT_EQ(api.call(request("GET", "/ready")).status, 503);
}

TEST(TranscriptionApi, BusyBackendBecomes503WithRetryAfter) {
  ApiOptions options = Api::defaults();
  options.retry_after_seconds = 3;
  ServiceState state;
  MetricsRegistry registry;
  const TranscriptionApi api(
      options,
      [](TranscriptionJob, TranscriptionDone) {
        throw HttpError(503, "too many requests waiting");
      },
      state, registry);
  auto responder = std::make_shared<RecordingResponder>();
  api.handle(multipart({}, test_audio::wav_bytes(1.0)), responder);
  const HttpResponse response = responder->wait();
  EXPECT_EQ(response.status, 503);
  EXPECT_EQ(header(response, "Retry-After"), "3");
  EXPECT_NE(registry.render().find("glmasr:request_failure_total{reason=\"overloaded\"} 1"),
            std::string::npos);
}

TEST(TranscriptionApi, TheJobCarriesTheRequestsCancellation) {
  Calls calls;
  calls.hold = true;
  Api api(calls);
  auto responder = api.start(multipart({}, test_audio::wav_bytes(1.0)));
  ASSERT_EQ(calls.held.size(), 1u);
  EXPECT_FALSE(*calls.held[0].first.cancelled);
  responder->cancel();  // the client went away
  EXPECT_TRUE(*calls.held[0].first.cancelled);
  calls.held[0].second({.result = {}, .failure = nullptr, .cancelled = true});
  EXPECT_FALSE(responder->answered());
  EXPECT_NE(api.metrics().find("glmasr:request_failure_total{reason=\"cancelled\"} 1"),
            std::string::npos);
}

TEST(TranscriptionApi, MetricsCountWhatWasServed) {
  Calls calls;
  ApiOptions options = Api::defaults();
  options.load_stats = [] { return LoadStats{.running = 3, .waiting = 5, .kv_cache_usage = 0.25}; };
  Api api(calls, options);
  ASSERT_EQ(api.call(multipart({}, test_audio::wav_bytes(2.0))).status, 200);
  ASSERT_EQ(api.call(multipart({{"response_format", "xml"}}, test_audio::wav_bytes(1.0))).status,
            400);
  const HttpResponse scrape = api.call(request("GET", "/metrics"));
  EXPECT_EQ(scrape.content_type, kPrometheusContentType);
  const std::string& text = scrape.body;
  for (const std::string line :
       {"glmasr:num_requests_running 3", "glmasr:num_requests_waiting 5",
        "glmasr:kv_cache_usage_perc 0.25",
        "glmasr:request_success_total{finished_reason=\"stop\"} 1",
        "glmasr:request_failure_total{reason=\"client_error\"} 1",
        "glmasr:generation_tokens_total 2", "glmasr:prompt_tokens_total 7",
        "glmasr:audio_seconds_total 2", "glmasr:e2e_request_latency_seconds_count 1",
        "glmasr:request_queue_time_seconds_count 1", "glmasr:time_to_first_token_seconds_count 1",
        "# TYPE glmasr:e2e_request_latency_seconds histogram"})
    EXPECT_NE(text.find(line + "\n"), std::string::npos) << line << "\n" << text;
}

TEST(TranscriptionApi, CorsForAllowedOriginsOnly) {
  Calls calls;
  ApiOptions options = Api::defaults();
  options.cors = CorsPolicy::parse("https://app.example, http://localhost:3000");
  Api api(calls, options);
  HttpRequest preflight = request("OPTIONS", "/v1/audio/transcriptions");
  preflight.headers = {{"Origin", "https://app.example"},
                       {"Access-Control-Request-Method", "POST"},
                       {"Access-Control-Request-Headers", "authorization, content-type"}};
  const HttpResponse allowed = api.call(preflight);
  EXPECT_EQ(allowed.status, 204);
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Origin"), "https://app.example");
  EXPECT_EQ(header(allowed, "Access-Control-Allow-Headers"), "authorization, content-type");
  EXPECT_NE(header(allowed, "Access-Control-Allow-Methods").find("POST"), std::string::npos);

  HttpRequest get = request("GET", "/v1/models");
  get.headers = {{"Origin", "http://localhost:3000"}};
  EXPECT_EQ(header(api.call(get), "Access-Control-Allow-Origin"), "http://localhost:3000");
  get.headers = {{"Origin", "https://evil.example"}};
  EXPECT_EQ(header(api.call(get), "Access-Control-Allow-Origin"), "");
  HttpRequest upload = multipart({}, test_audio::wav_bytes(1.0));
  upload.headers.emplace_back("Origin", "https://app.example");
  EXPECT_EQ(header(api.call(upload), "Access-Control-Allow-Origin"), "https://app.example");
}

TEST(CorsPolicy, ParsesStarAndListsAndRejectsNonOrigins) {
  EXPECT_FALSE(CorsPolicy().enabled());
  EXPECT_TRUE(CorsPolicy::parse("*").allows("https://anything.example"));
  const CorsPolicy list = CorsPolicy::parse("https://a.example,http://b.example:8080");
  EXPECT_TRUE(list.allows("http://b.example:8080"));
  EXPECT_FALSE(list.allows("http://b.example"));
  EXPECT_THROW(CorsPolicy::parse("a.example"), InputError);
  EXPECT_THROW(CorsPolicy::parse("https://a.example,"), InputError);
  EXPECT_THROW(CorsPolicy::parse("https://a.example/"), InputError);
}

}  // namespace
}  // namespace glmasr::server
