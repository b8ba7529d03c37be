// One streamed transcription (POST /v1/audio/transcriptions with stream=true) as OpenAI's
// server-sent events: `transcript.text.delta` per piece of decoded text, then
// `transcript.text.done` with the whole text and token usage, then `data: [DONE]`.
// The response head is sent with the first event, so a request that fails before any text was
// decoded still gets an ordinary HTTP error status; a failure after that is an `error` event
// (what the OpenAI SDKs raise as an APIError) and the end of the stream.
#pragma once

#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/http_message.h"
#include "server/responder.h"

namespace glmasr::server {

// "data: <json>\n\n": one server-sent event without an event name (what the SDKs read).
std::string sse_event(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// OpenAI's usage object of a transcription: {"type":"tokens", input, output, total}.
nlohmann::json token_usage(int64_t input_tokens, int64_t output_tokens);

class SseTranscription {
 public:
  // `headers` go on the stream's head (CORS); the head itself is sent with the first event.
  SseTranscription(ResponderPtr responder,
                   std::vector<std::pair<std::string, std::string>> headers);

  // Thread-safe; in the order called.
  void delta(std::string_view text);
  void done(const std::string& text, int64_t input_tokens, int64_t output_tokens);
  // After the first event: sends `error_body` ({"error": {...}}) as an event and ends the
  // stream; returns true. Before it: sends nothing and returns false (the caller answers with
  // an ordinary error response). Either way nothing more is sent.
  bool fail(const HttpResponse& error_body);

 private:
  void send_locked(std::string event);

  ResponderPtr responder_;
  std::vector<std::pair<std::string, std::string>> headers_;
  std::mutex mutex_;
  bool started_ = false;
  bool finished_ = false;
};

}  // namespace glmasr::server
