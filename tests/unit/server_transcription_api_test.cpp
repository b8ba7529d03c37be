// The routes of glmasr serve with a fake transcriber: formats, uploads in both shapes, and every
// error a client can cause.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/transcription_api.h"
#include "server_test_audio.h"

namespace glmasr::server {
namespace {

using nlohmann::json;

const std::string kBoundary = "XyZ";

struct Calls {
  std::vector<std::string> prompts;
  std::vector<double> seconds;
  std::string fail_with;  // when set, the fake transcriber fails
};

TranscriptionApi make_api(Calls& calls, double max_seconds = 60) {
  ApiOptions options;
  options.model_id = "tiny";
  options.max_audio_seconds = max_seconds;
  return TranscriptionApi(options, [&calls](Audio audio, const std::string& prompt) {
    calls.prompts.push_back(prompt);
    calls.seconds.push_back(audio.seconds());
    InputResult result;
    result.source = audio.source;
    if (!calls.fail_with.empty()) {
      result.error = calls.fail_with;
      return result;
    }
    Transcript transcript;
    transcript.source = audio.source;
    transcript.duration = audio.seconds();
    transcript.text = "hello \"world\"";
    TranscriptSegment segment;
    segment.end = audio.seconds();
    segment.text = transcript.text;
    segment.tokens = {1, 2};
    transcript.segments.push_back(segment);
    result.transcript = transcript;
    return result;
  });
}

HttpRequest request(const std::string& method, const std::string& target) {
  return parse_request_head(method + " " + target + " HTTP/1.1\r\n\r\n");
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

TEST(TranscriptionApi, HealthAndModels) {
  Calls calls;
  const auto api = make_api(calls);
  const HttpResponse health = api.handle(request("GET", "/health"));
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(json::parse(health.body), json({{"status", "ok"}}));
  const HttpResponse models = api.handle(request("GET", "/v1/models"));
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "tiny");
}

TEST(TranscriptionApi, UnknownRoutesAndMethods) {
  Calls calls;
  const auto api = make_api(calls);
  EXPECT_EQ(api.handle(request("GET", "/v1/audio/translations")).status, 404);
  EXPECT_EQ(api.handle(request("GET", "/")).status, 404);
  const HttpResponse wrong = api.handle(request("GET", "/v1/audio/transcriptions"));
  EXPECT_EQ(wrong.status, 405);
  ASSERT_EQ(wrong.headers.size(), 1u);
  EXPECT_EQ(wrong.headers[0], (std::pair<std::string, std::string>{"Allow", "POST"}));
  EXPECT_EQ(api.handle(request("POST", "/health")).status, 405);
}

TEST(TranscriptionApi, MultipartUploadInEveryFormat) {
  Calls calls;
  const auto api = make_api(calls);
  const std::string wav = test_audio::wav_bytes(2.0);

  const HttpResponse plain = api.handle(multipart({{"model", "whisper-1"}}, wav));
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.content_type, "application/json");
  EXPECT_EQ(json::parse(plain.body), json({{"text", "hello \"world\""}}));
  EXPECT_NEAR(calls.seconds.at(0), 2.0, 1e-3);
  EXPECT_EQ(calls.prompts.at(0), "");

  const HttpResponse text = api.handle(multipart({{"response_format", "text"}}, wav));
  EXPECT_EQ(text.body, "hello \"world\"\n");
  EXPECT_EQ(text.content_type, "text/plain; charset=utf-8");

  const HttpResponse srt = api.handle(multipart({{"response_format", "srt"}}, wav));
  EXPECT_EQ(srt.body.substr(0, 32), "1\n00:00:00,000 --> 00:00:02,000\n");
  const HttpResponse vtt = api.handle(multipart({{"response_format", "vtt"}}, wav));
  EXPECT_EQ(vtt.body.substr(0, 6), "WEBVTT");

  const HttpResponse verbose = api.handle(multipart(
      {{"response_format", "verbose_json"}, {"prompt", "Names: Kennedy"}}, wav, "jfk.wav"));
  const json parsed = json::parse(verbose.body);
  EXPECT_EQ(parsed["file"], "jfk.wav");
  EXPECT_EQ(parsed["segments"][0]["tokens"], json({1, 2}));
  EXPECT_EQ(calls.prompts.back(), "Names: Kennedy");
}

TEST(TranscriptionApi, RawAudioBodyWithQueryOptions) {
  Calls calls;
  const auto api = make_api(calls);
  HttpRequest req =
      request("POST", "/v1/audio/transcriptions?response_format=text&prompt=hi+there");
  req.headers.emplace_back("Content-Type", "audio/wav");
  req.body = test_audio::wav_bytes(1.0);
  const HttpResponse response = api.handle(req);
  ASSERT_EQ(response.status, 200) << response.body;
  EXPECT_EQ(response.body, "hello \"world\"\n");
  EXPECT_EQ(calls.prompts.at(0), "hi there");
}

TEST(TranscriptionApi, ClientErrorsNameTheProblem) {
  Calls calls;
  const auto api = make_api(calls, /*max_seconds=*/1.5);
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
      {multipart({}, test_audio::wav_bytes(2.0), "long.wav"), 400,
       "'long.wav' is longer than the 1.5 s limit"},
      {no_type, 415, "expected multipart/form-data or audio/*"},
      {json_type, 415, "unsupported Content-Type 'application/json'"},
      {raw_empty, 400, "is empty"},
      {bad_boundary, 400, "no boundary"},
      {truncated, 400, "ends without its closing boundary"},
  };
  for (const Case& c : cases) {
    const HttpResponse response = api.handle(c.request);
    EXPECT_EQ(response.status, c.status) << response.body;
    EXPECT_NE(error_message(response).find(c.message), std::string::npos) << response.body;
  }
  EXPECT_TRUE(calls.prompts.empty());  // none of them reached the model
}

TEST(TranscriptionApi, TranscriptionFailureIsAServerError) {
  Calls calls;
  calls.fail_with = "engine failed: out of memory";
  const auto api = make_api(calls);
  const HttpResponse response = api.handle(multipart({}, test_audio::wav_bytes(1.0)));
  EXPECT_EQ(response.status, 500);
  EXPECT_EQ(error_message(response), "engine failed: out of memory");
  EXPECT_EQ(json::parse(response.body)["error"]["type"], "server_error");
}

TEST(TranscriptionApi, BusyWorkerBecomes503) {
  ApiOptions options;
  const TranscriptionApi api(options, [](Audio, const std::string&) -> InputResult {
    throw HttpError(503, "too many requests waiting");
  });
  EXPECT_EQ(api.handle(multipart({}, test_audio::wav_bytes(1.0))).status, 503);
}

}  // namespace
}  // namespace glmasr::server
