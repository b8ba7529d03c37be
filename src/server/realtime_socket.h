// GET /v1/realtime?intent=transcription: the OpenAI Realtime transcription session over a
// Beast WebSocket. This layer only moves messages: text messages go to a RealtimeSession
// (stream/realtime_session.h, where the protocol lives) and its events come back as text
// messages through a bounded send queue. A client that stops reading fills the queue and is
// closed with 1008; a disconnect closes the session, which cancels its work; shutting down
// closes every session with 1001.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "server/metrics.h"
#include "server/transcription_job.h"
#include "server/upgrade_request.h"
#include "stream/realtime_session.h"

namespace glmasr::server {

struct RealtimeServerOptions {
  std::string model_id = "GLM-ASR-Nano-2512";
  stream::RealtimeLimits limits;
  size_t max_sessions = 256;               // more are refused with 503 before the handshake
  size_t max_send_queue_bytes = 4u << 20;  // events waiting for a slow reader
  size_t max_message_bytes = 16u << 20;    // one client message (a 15 MiB append and its JSON)
  int handshake_timeout_ms = 10000;
  int close_timeout_ms = 5000;  // a close the client does not complete, then drop
  // Where glmasr:realtime_sessions (open now) and glmasr:realtime_slow_reader_closes_total (1008
  // for a full send queue) are kept; null: not counted.
  MetricsRegistry* metrics = nullptr;
};

// A turn of a session as a job of the server's backend (the engine loop, or a fake in tests).
stream::TranscribeTurnFn turn_transcriber(TranscribeFn transcribe);

class RealtimeServer {
 public:
  RealtimeServer(RealtimeServerOptions options, stream::TranscribeTurnFn transcribe);
  ~RealtimeServer();  // close_all()
  RealtimeServer(const RealtimeServer&) = delete;
  RealtimeServer& operator=(const RealtimeServer&) = delete;

  // HttpServerOptions::on_upgrade: the route and intent are checked here (404/400/503 as HTTP
  // answers), then the WebSocket handshake.
  void accept(std::unique_ptr<UpgradeRequest> upgrade);
  // Shutting down: every session closes with 1001 (going away).
  void close_all();
  size_t sessions() const;

  struct Shared;  // options, the transcription function and the open sessions

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace glmasr::server
