// The routes of `glmasr serve`: OpenAI-compatible POST /v1/audio/transcriptions, GET /v1/models
// and /v1/models/{id}, and for operators GET /health, /ready and /metrics. Requests become
// responses here; sockets and threads live in HttpServer, and the transcription itself is an
// asynchronous function handed in (the batching worker in the server, a fake in tests).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "server/cors.h"
#include "server/http_message.h"
#include "server/metrics.h"
#include "server/responder.h"
#include "server/service_metrics.h"
#include "server/service_state.h"
#include "server/transcription_job.h"

namespace glmasr::server {

struct ApiOptions {
  std::string model_id = "GLM-ASR-Nano-2512";  // --served-model-name
  double max_audio_seconds = 7200;             // longer uploads are refused with 400
  int retry_after_seconds = 1;                 // on 503 answers
  CorsPolicy cors;
  std::function<LoadStats()> load_stats;  // read at each /metrics scrape; unset: zeros
  // Runs CPU work (decoding the upload) off the I/O threads; unset: runs it inline (tests).
  std::function<void(std::function<void()>)> run_blocking;
  // Called once, after answering, when the backend reported a glmasr::DeviceError.
  std::function<void(const std::string& message)> on_device_fault;
};

// What a transcription request asks for, taken from a multipart form or a raw audio body.
struct TranscriptionRequest {
  std::string audio_bytes;
  std::string filename;  // names the upload in errors and verbose_json "file"
  std::string response_format = "json";
  std::string prompt;   // empty: the default instruction
  bool stream = false;  // server-sent events as the text is decoded (json and text formats)
};

// Reads the upload out of a POST request: multipart/form-data fields file (required), prompt,
// response_format, stream, model and language (accepted, ignored), or a raw audio/* (or
// application/octet-stream) body with response_format, prompt and stream in the query string
// (stream may also be in the query of a multipart request). The
// body is moved out of `request`. Throws HttpError 400 naming the missing or malformed piece,
// 415 for another Content-Type.
TranscriptionRequest parse_transcription_request(HttpRequest& request);

class TranscriptionApi {
 public:
  TranscriptionApi(ApiOptions options, TranscribeFn transcribe, ServiceState& state,
                   MetricsRegistry& registry);

  // Answers through `responder`, now or later; never throws.
  void handle(HttpRequest request, ResponderPtr responder) const;

 private:
  struct Pending;
  void route(HttpRequest& request, const std::shared_ptr<Pending>& pending) const;
  void transcribe(HttpRequest& request, const std::shared_ptr<Pending>& pending) const;
  void start_job(const std::shared_ptr<Pending>& pending, HttpRequest request) const;
  void finish(const std::shared_ptr<Pending>& pending, TranscriptionOutcome outcome) const;
  void fail(const std::shared_ptr<Pending>& pending, std::exception_ptr failure) const;

  ApiOptions options_;
  TranscribeFn transcribe_;
  ServiceState& state_;
  MetricsRegistry& registry_;
  std::shared_ptr<ServiceMetrics> metrics_;
};

}  // namespace glmasr::server
