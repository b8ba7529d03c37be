#include "server/transcription_api.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "audio/audio_decode.h"
#include "pipeline/subtitles.h"
#include "server/multipart.h"
#include "server/sse_transcription.h"

namespace glmasr::server {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::array<const char*, 5> kResponseFormats = {"json", "text", "srt", "vtt",
                                                         "verbose_json"};
constexpr const char* kTranscriptionsPath = "/v1/audio/transcriptions";
constexpr const char* kModelsPath = "/v1/models";

void check_response_format(const std::string& format) {
  for (const char* known : kResponseFormats)
    if (format == known) return;
  throw HttpError(400, cat("unknown response_format '", format,
                           "': expected json, text, srt, vtt or verbose_json"));
}

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

HttpResponse text_response(std::string body) {
  HttpResponse response;
  response.content_type = "text/plain; charset=utf-8";
  response.body = std::move(body);
  return response;
}

HttpResponse render(const Transcript& transcript, const std::string& format) {
  if (format == "json") return json_response(200, dump({{"text", transcript.text}}));
  if (format == "verbose_json")
    return json_response(200, render_transcript(transcript, OutputFormat::kVerboseJson));
  if (format == "srt") return text_response(render_transcript(transcript, OutputFormat::kSrt));
  if (format == "vtt") return text_response(render_transcript(transcript, OutputFormat::kVtt));
  return text_response(render_transcript(transcript, OutputFormat::kTxt));
}

HttpResponse method_not_allowed(const HttpRequest& request, const char* allowed) {
  HttpResponse response = error_response(405, cat("method ", request.method, " is not allowed on ",
                                                  request.path, ": expected ", allowed));
  response.headers.emplace_back("Allow", allowed);
  return response;
}

nlohmann::json model_card(const std::string& id) {
  return {{"id", id}, {"object", "model"}, {"created", 0}, {"owned_by", "glmasr"}};
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// "length" when a segment stopped at max_new_tokens, else "stop" (as vLLM's finished_reason).
std::string finished_reason(const Transcript& transcript) {
  for (const TranscriptSegment& segment : transcript.segments)
    if (segment.stop_reason == "max_tokens") return "length";
  return "stop";
}

// The stream option: "true"/"false" as the SDKs send it (form field or query).
bool parse_stream_flag(const std::string& value) {
  if (value == "true" || value == "1") return true;
  if (value == "false" || value == "0" || value.empty()) return false;
  throw HttpError(400, cat("stream '", value, "' is not a boolean: expected true or false"));
}

}  // namespace

// One request on its way through the routes; shared with the backend's completion.
struct TranscriptionApi::Pending {
  ResponderPtr responder;
  HttpRequest request;  // without its body (moved into the upload): CORS reads the headers
  Clock::time_point start = Clock::now();
  std::string response_format;
  std::shared_ptr<SseTranscription> sse;  // set when the answer is streamed
  std::atomic<int64_t> prompt_tokens{0};
  // For the Server-Timing header: when the audio was decoded and when the engine loop admitted
  // its first segment (the engine's thread writes this one).
  Clock::time_point decoded;
  std::atomic<Clock::rep> admitted{0};
};

namespace {

double millis_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

// W3C Server-Timing: where a request's time went, so a client (or bench/serve_bench.py) can
// tell the service's own cost from the pipeline's. audio: receipt to decoded audio (form parsing,
// decoding, resampling); prepare: segmentation and log-mel (the pipeline's host work, as in
// `glmasr transcribe`) and the wait for admission by the engine loop; engine: admission to the
// last token; total: receipt to the answer.
std::string server_timing(Clock::time_point start, Clock::time_point decoded,
                          Clock::time_point admitted, Clock::time_point now) {
  char text[160];
  std::snprintf(text, sizeof text,
                "audio;dur=%.3f, prepare;dur=%.3f, engine;dur=%.3f, total;dur=%.3f",
                millis_between(start, decoded), millis_between(decoded, admitted),
                millis_between(admitted, now), millis_between(start, now));
  return text;
}

}  // namespace

TranscriptionRequest parse_transcription_request(HttpRequest& request) {
  const std::string content_type = request.header("Content-Type").value_or("");
  const HeaderValue type = parse_header_value(content_type);
  TranscriptionRequest parsed;
  if (type.value == "multipart/form-data") {
    std::vector<FormPart> parts = parse_multipart(request.body, multipart_boundary(content_type));
    auto file = std::find_if(parts.begin(), parts.end(),
                             [](const FormPart& part) { return part.name == "file"; });
    if (file == parts.end())
      throw HttpError(400, "multipart form has no 'file' field: expected the audio file");
    parsed.audio_bytes = std::move(file->data);
    parsed.filename = file->filename.value_or("file");
    if (const FormPart* format = find_part(parts, "response_format"))
      parsed.response_format = format->data;
    if (const FormPart* prompt = find_part(parts, "prompt")) parsed.prompt = prompt->data;
    const auto query = parse_query(request.query);
    if (const FormPart* stream = find_part(parts, "stream"))
      parsed.stream = parse_stream_flag(stream->data);
    else if (auto it = query.find("stream"); it != query.end())
      parsed.stream = parse_stream_flag(it->second);
    request.body.clear();
    request.body.shrink_to_fit();
  } else if (type.value.rfind("audio/", 0) == 0 || type.value == "application/octet-stream") {
    const auto query = parse_query(request.query);
    parsed.audio_bytes = std::move(request.body);
    parsed.filename = "request body";
    if (auto it = query.find("response_format"); it != query.end())
      parsed.response_format = it->second;
    if (auto it = query.find("prompt"); it != query.end()) parsed.prompt = it->second;
    if (auto it = query.find("stream"); it != query.end())
      parsed.stream = parse_stream_flag(it->second);
  } else {
    throw HttpError(415, cat("unsupported Content-Type '", content_type,
                             "': expected multipart/form-data or audio/*"));
  }
  check_response_format(parsed.response_format);
  if (parsed.stream && parsed.response_format != "json" && parsed.response_format != "text")
    throw HttpError(400, cat("stream=true with response_format '", parsed.response_format,
                             "': a stream carries text events, expected json or text"));
  if (parsed.audio_bytes.empty())
    throw HttpError(400, cat("the uploaded audio '", parsed.filename, "' is empty (0 bytes)"));
  return parsed;
}

TranscriptionApi::TranscriptionApi(ApiOptions options, TranscribeFn transcribe, ServiceState& state,
                                   MetricsRegistry& registry)
    : options_(std::move(options)),
      transcribe_(std::move(transcribe)),
      state_(state),
      registry_(registry),
      metrics_(std::make_shared<ServiceMetrics>(registry)) {}

void TranscriptionApi::handle(HttpRequest request, ResponderPtr responder) const {
  auto pending = std::make_shared<Pending>();
  pending->responder = std::move(responder);
  try {
    route(request, pending);
  } catch (...) {
    fail(pending, std::current_exception());
  }
}

namespace {

void send(const CorsPolicy& cors, int retry_after_seconds, const HttpRequest& request,
          Responder& responder, HttpResponse response) {
  cors.decorate(request, response);
  if (response.status == 503)
    response.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  responder.respond(std::move(response));
}

}  // namespace

void TranscriptionApi::route(HttpRequest& request, const std::shared_ptr<Pending>& pending) const {
  pending->request.method = request.method;
  pending->request.path = request.path;
  pending->request.headers = request.headers;
  const auto answer = [&](HttpResponse response) {
    send(options_.cors, options_.retry_after_seconds, request, *pending->responder,
         std::move(response));
  };
  if (auto preflight = options_.cors.preflight(request)) return answer(std::move(*preflight));

  const std::string& path = request.path;
  const bool get = request.method == "GET";
  if (path == "/health") {
    if (!get) return answer(method_not_allowed(request, "GET"));
    return answer(json_response(200, dump({{"status", "ok"}})));
  }
  if (path == "/ready") {
    if (!get) return answer(method_not_allowed(request, "GET"));
    if (state_.ready()) return answer(json_response(200, dump({{"status", "ready"}})));
    const char* why = !state_.model_loaded ? "the model is not loaded yet"
                      : state_.draining    ? "the server is shutting down"
                                           : "a device fault stopped the engine";
    return answer(error_response(503, cat("not ready: ", why)));
  }
  if (path == "/metrics") {
    if (!get) return answer(method_not_allowed(request, "GET"));
    metrics_->set_load(options_.load_stats ? options_.load_stats() : LoadStats{});
    HttpResponse response;
    response.content_type = kPrometheusContentType;
    response.body = registry_.render();
    return answer(std::move(response));
  }
  if (path == kModelsPath) {
    if (!get) return answer(method_not_allowed(request, "GET"));
    return answer(
        json_response(200, dump({{"object", "list"}, {"data", {model_card(options_.model_id)}}})));
  }
  if (path.rfind(std::string(kModelsPath) + "/", 0) == 0) {
    if (!get) return answer(method_not_allowed(request, "GET"));
    const std::string id = percent_decode(path.substr(std::string(kModelsPath).size() + 1));
    if (id != options_.model_id)
      return answer(error_response(
          404,
          cat("the model '", id, "' does not exist: this server serves '", options_.model_id, "'"),
          "model", "model_not_found"));
    return answer(json_response(200, dump(model_card(id))));
  }
  if (path == kTranscriptionsPath) {
    if (request.method != "POST") return answer(method_not_allowed(request, "POST"));
    return transcribe(request, pending);
  }
  answer(error_response(
      404, cat("no route for ", request.method, " ", path, ": expected POST ", kTranscriptionsPath,
               ", GET ", kModelsPath, ", /health, /ready or /metrics")));
}

void TranscriptionApi::transcribe(HttpRequest& request,
                                  const std::shared_ptr<Pending>& pending) const {
  if (!options_.run_blocking) return start_job(pending, std::move(request));
  // Splitting a large form and decoding it take milliseconds to seconds: not on an I/O thread.
  auto shared_request = std::make_shared<HttpRequest>(std::move(request));
  options_.run_blocking([this, pending, shared_request] {
    try {
      start_job(pending, std::move(*shared_request));
    } catch (...) {
      fail(pending, std::current_exception());
    }
  });
}

void TranscriptionApi::start_job(const std::shared_ptr<Pending>& pending,
                                 HttpRequest request) const {
  if (pending->responder->cancelled()) return metrics_->count_failure("cancelled");
  TranscriptionRequest upload = parse_transcription_request(request);
  pending->response_format = upload.response_format;
  TranscriptionJob job;
  try {
    job.audio = read_audio_memory(upload.audio_bytes, upload.filename,
                                  {.max_seconds = options_.max_audio_seconds});
  } catch (const AudioTooLongError& e) {
    throw HttpError(413, e.what());  // too much audio, found before decoding it all
  } catch (const Error& e) {
    // Undecodable uploads are the client's problem; the message says what the decoder saw.
    throw HttpError(400, e.what());
  }
  upload.audio_bytes = std::string();  // the decoded audio is what stays in memory from here
  pending->decoded = Clock::now();
  if (job.audio.seconds() > options_.max_audio_seconds) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", job.audio.seconds());
    throw HttpError(413, cat("audio '", upload.filename, "' is ", seconds,
                             " s long: expected at most ", options_.max_audio_seconds, " s"));
  }
  job.prompt = std::move(upload.prompt);
  job.cancelled = pending->responder->cancelled_flag();
  const Clock::time_point submitted = Clock::now();
  auto metrics = metrics_;
  job.events.started = [metrics, submitted, pending] {
    pending->admitted = Clock::now().time_since_epoch().count();
    metrics->queue_time.observe(seconds_since(submitted));
  };
  job.events.first_token = [metrics, start = pending->start] {
    metrics->time_to_first_token.observe(seconds_since(start));
  };
  job.events.prompt_tokens = [metrics, pending](int64_t count) {
    metrics->prompt_tokens.add(static_cast<double>(count));
    pending->prompt_tokens += count;
  };
  if (upload.stream) {
    HttpResponse cors_headers;
    options_.cors.decorate(pending->request, cors_headers);
    pending->sse =
        std::make_shared<SseTranscription>(pending->responder, std::move(cors_headers.headers));
    job.on_text_delta = [sse = pending->sse](std::string_view delta) { sse->delta(delta); };
  }
  transcribe_(std::move(job), [this, pending](TranscriptionOutcome outcome) {
    try {
      finish(pending, std::move(outcome));
    } catch (...) {
      fail(pending, std::current_exception());
    }
  });
}

void TranscriptionApi::finish(const std::shared_ptr<Pending>& pending,
                              TranscriptionOutcome outcome) const {
  if (outcome.failure) return fail(pending, outcome.failure);
  if (outcome.cancelled) return metrics_->count_failure("cancelled");
  if (!outcome.result.transcript) {
    metrics_->count_failure("server_error");
    HttpResponse response = error_response(500, outcome.result.error);
    if (pending->sse && pending->sse->fail(response)) return;
    return send(options_.cors, options_.retry_after_seconds, pending->request, *pending->responder,
                std::move(response));
  }
  const Transcript& transcript = *outcome.result.transcript;
  metrics_->e2e_latency.observe(seconds_since(pending->start));
  metrics_->audio_seconds.add(transcript.duration);
  size_t generated = 0;
  for (const TranscriptSegment& segment : transcript.segments) generated += segment.tokens.size();
  metrics_->generation_tokens.add(static_cast<double>(generated));
  metrics_->count_success(finished_reason(transcript));
  if (pending->sse)
    return pending->sse->done(transcript.text, pending->prompt_tokens.load(),
                              static_cast<int64_t>(generated));
  HttpResponse response = render(transcript, pending->response_format);
  const Clock::time_point admitted{Clock::duration(pending->admitted.load())};
  response.headers.emplace_back("Server-Timing",
                                server_timing(pending->start, pending->decoded,
                                              std::max(admitted, pending->decoded), Clock::now()));
  send(options_.cors, options_.retry_after_seconds, pending->request, *pending->responder,
       std::move(response));
}

// Every failure becomes an OpenAI error body; the status says whose fault it was.
void TranscriptionApi::fail(const std::shared_ptr<Pending>& pending,
                            std::exception_ptr failure) const {
  HttpResponse response;
  std::string fault;
  try {
    std::rethrow_exception(failure);
  } catch (const HttpError& e) {
    response = error_response(e.status(), e.what());
  } catch (const InputError& e) {
    response = error_response(400, e.what());
  } catch (const DeviceError& e) {
    // The CUDA context may be poisoned for every request: stop taking work; the supervisor
    // restarts the process.
    state_.device_fault = true;
    fault = e.what();
    response =
        error_response(503, cat("the engine failed (", e.what(), "): retry on another replica"));
    response.close = true;
  } catch (const std::exception& e) {
    response = error_response(500, e.what());
  } catch (...) {
    response = error_response(500, "unknown failure");
  }
  if (pending->request.path == kTranscriptionsPath)
    metrics_->count_failure(response.status == 503 && fault.empty() ? "overloaded"
                            : response.status < 500                 ? "client_error"
                                                                    : "server_error");
  if (!(pending->sse && pending->sse->fail(response)))
    send(options_.cors, options_.retry_after_seconds, pending->request, *pending->responder,
         std::move(response));
  if (!fault.empty() && options_.on_device_fault) options_.on_device_fault(fault);
}

}  // namespace glmasr::server
