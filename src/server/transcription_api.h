// The routes of `glmasr serve`: an OpenAI-compatible POST /v1/audio/transcriptions, GET /health
// and GET /v1/models. Requests become responses here; sockets and threads live elsewhere, and
// the transcription itself is a function handed in (the batching worker in the server, a fake
// in tests).
#pragma once

#include <functional>
#include <string>

#include "audio/audio_file.h"
#include "pipeline/transcriber.h"
#include "server/http_message.h"

namespace glmasr::server {

// Blocks until `audio` is transcribed with `prompt` (the pipeline's default when empty).
using TranscribeOneFn = std::function<InputResult(Audio audio, const std::string& prompt)>;

struct ApiOptions {
  std::string model_id = "GLM-ASR-Nano-2512";  // what GET /v1/models lists
  double max_audio_seconds = 7200;             // longer uploads are refused with 400
};

// What a transcription request asks for, taken from a multipart form or a raw audio body.
struct TranscriptionRequest {
  std::string audio_bytes;
  std::string filename;  // names the upload in errors and verbose_json "file"
  std::string response_format = "json";
  std::string prompt;  // empty: the default instruction
};

// Reads the upload out of a POST request: multipart/form-data fields file (required), prompt,
// response_format, model and language (accepted, ignored), or a raw audio/* (or
// application/octet-stream) body with response_format and prompt in the query string.
// Throws HttpError 400 naming the missing or malformed piece, 415 for another Content-Type.
TranscriptionRequest parse_transcription_request(const HttpRequest& request);

class TranscriptionApi {
 public:
  TranscriptionApi(ApiOptions options, TranscribeOneFn transcribe);

  // Never throws: every failure becomes an error response (JSON {"error": {...}}).
  HttpResponse handle(const HttpRequest& request) const;

 private:
  HttpResponse transcribe(const HttpRequest& request) const;

  ApiOptions options_;
  TranscribeOneFn transcribe_;
};

}  // namespace glmasr::server
