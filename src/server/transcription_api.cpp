#include "server/transcription_api.h"

#include <array>
#include <cstdio>
#include <exception>
#include <nlohmann/json.hpp>

#include "pipeline/subtitles.h"
#include "server/multipart.h"

namespace glmasr::server {

namespace {

constexpr std::array<const char*, 5> kResponseFormats = {"json", "text", "srt", "vtt",
                                                         "verbose_json"};

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

}  // namespace

TranscriptionRequest parse_transcription_request(const HttpRequest& request) {
  const std::string content_type = request.header("Content-Type").value_or("");
  const HeaderValue type = parse_header_value(content_type);
  TranscriptionRequest parsed;
  if (type.value == "multipart/form-data") {
    const std::vector<FormPart> parts =
        parse_multipart(request.body, multipart_boundary(content_type));
    const FormPart* file = find_part(parts, "file");
    if (!file) throw HttpError(400, "multipart form has no 'file' field: expected the audio file");
    parsed.audio_bytes = file->data;
    parsed.filename = file->filename.value_or("file");
    if (const FormPart* format = find_part(parts, "response_format"))
      parsed.response_format = format->data;
    if (const FormPart* prompt = find_part(parts, "prompt")) parsed.prompt = prompt->data;
  } else if (type.value.rfind("audio/", 0) == 0 || type.value == "application/octet-stream") {
    const auto query = parse_query(request.query);
    parsed.audio_bytes = request.body;
    parsed.filename = "request body";
    if (auto it = query.find("response_format"); it != query.end())
      parsed.response_format = it->second;
    if (auto it = query.find("prompt"); it != query.end()) parsed.prompt = it->second;
  } else {
    throw HttpError(415, cat("unsupported Content-Type '", content_type,
                             "': expected multipart/form-data or audio/*"));
  }
  check_response_format(parsed.response_format);
  if (parsed.audio_bytes.empty())
    throw HttpError(400, cat("the uploaded audio '", parsed.filename, "' is empty (0 bytes)"));
  return parsed;
}

TranscriptionApi::TranscriptionApi(ApiOptions options, TranscribeOneFn transcribe)
    : options_(std::move(options)), transcribe_(std::move(transcribe)) {}

HttpResponse TranscriptionApi::handle(const HttpRequest& request) const {
  try {
    if (request.path == "/health") {
      if (request.method != "GET") return method_not_allowed(request, "GET");
      return json_response(200, dump({{"status", "ok"}}));
    }
    if (request.path == "/v1/models") {
      if (request.method != "GET") return method_not_allowed(request, "GET");
      const nlohmann::json model = {
          {"id", options_.model_id}, {"object", "model"}, {"owned_by", "glmasr"}};
      return json_response(200, dump({{"object", "list"}, {"data", {model}}}));
    }
    if (request.path == "/v1/audio/transcriptions") {
      if (request.method != "POST") return method_not_allowed(request, "POST");
      return transcribe(request);
    }
    return error_response(404, cat("no route for ", request.method, " ", request.path,
                                   ": expected POST /v1/audio/transcriptions, GET /health or "
                                   "GET /v1/models"));
  } catch (const HttpError& e) {
    return error_response(e.status(), e.what());
  } catch (const std::exception& e) {
    return error_response(500, e.what());
  }
}

HttpResponse TranscriptionApi::transcribe(const HttpRequest& request) const {
  const TranscriptionRequest parsed = parse_transcription_request(request);
  Audio audio;
  try {
    audio = read_audio_memory(parsed.audio_bytes, parsed.filename,
                              {.max_seconds = options_.max_audio_seconds});
  } catch (const Error& e) {
    // Undecodable uploads are the client's problem; the message says what libsndfile saw.
    throw HttpError(400, e.what());
  }
  if (audio.seconds() > options_.max_audio_seconds) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", audio.seconds());
    throw HttpError(400, cat("audio '", parsed.filename, "' is ", seconds,
                             " s long: expected at most ", options_.max_audio_seconds, " s"));
  }
  const InputResult result = transcribe_(std::move(audio), parsed.prompt);
  if (!result.transcript) return error_response(500, result.error);
  return render(*result.transcript, parsed.response_format);
}

}  // namespace glmasr::server
