#include "server/sse_transcription.h"

namespace glmasr::server {

std::string sse_event(const nlohmann::json& data) {
  // Invalid UTF-8 cannot reach here (deltas are whole characters), but a dump must never throw.
  return "data: " + data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n\n";
}

nlohmann::json token_usage(int64_t input_tokens, int64_t output_tokens) {
  return {{"type", "tokens"},
          {"input_tokens", input_tokens},
          {"output_tokens", output_tokens},
          {"total_tokens", input_tokens + output_tokens}};
}

SseTranscription::SseTranscription(ResponderPtr responder,
                                   std::vector<std::pair<std::string, std::string>> headers)
    : responder_(std::move(responder)), headers_(std::move(headers)) {}

void SseTranscription::send_locked(std::string event) {
  if (!started_) {
    started_ = true;
    StreamHead head{.status = 200, .content_type = "text/event-stream", .headers = headers_};
    // Proxies must pass each event on as it comes instead of buffering the response.
    head.headers.emplace_back("Cache-Control", "no-cache");
    head.headers.emplace_back("X-Accel-Buffering", "no");
    responder_->start_stream(std::move(head));
  }
  responder_->write_chunk(std::move(event));
}

void SseTranscription::delta(std::string_view text) {
  if (text.empty()) return;
  std::lock_guard lock(mutex_);
  if (finished_) return;
  send_locked(sse_event({{"type", "transcript.text.delta"}, {"delta", text}}));
}

void SseTranscription::done(const std::string& text, int64_t input_tokens, int64_t output_tokens) {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  send_locked(sse_event({{"type", "transcript.text.done"},
                         {"text", text},
                         {"usage", token_usage(input_tokens, output_tokens)}}));
  responder_->write_chunk(std::string(kSseDone));
  responder_->end_stream();
}

bool SseTranscription::fail(const HttpResponse& error_body) {
  std::lock_guard lock(mutex_);
  if (finished_) return started_;
  finished_ = true;
  if (!started_) return false;
  nlohmann::json body = nlohmann::json::parse(error_body.body, nullptr, false);
  if (body.is_discarded() || !body.contains("error"))
    body = {{"error", {{"message", error_body.body}, {"type", error_type(error_body.status)}}}};
  // The SDKs raise an event holding "error" as an APIError.
  responder_->write_chunk(sse_event(body));
  responder_->end_stream();
  return true;
}

}  // namespace glmasr::server
