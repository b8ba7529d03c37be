// The OpenAI Realtime transcription-session protocol without sockets: client events (JSON text)
// in, server events out through a callback, turns handed to a transcription function. The
// server's WebSocket (server/realtime_socket.*) and `glmasr stream` drive the same class, and
// tests drive it with a fake transcription function. docs/streaming.md lists every event.
//
// Turns: with server_vad turn detection (the default) the EnergyVad opens and closes them;
// with turn_detection null, a turn is the audio since the last input_audio_buffer.commit. A
// turn is transcribed the moment it is committed (resampled to 16 kHz, deltas as tokens
// decode). Interim results (our extension, opt-in) re-transcribe the open turn as background
// work every interval_ms of audio and report the hypothesis and its LocalAgreement-2 prefix.
//
// Thread-safe: events, appends and transcription callbacks may come from any thread; output is
// produced under one lock, so the callback sees events in a consistent order (and must not
// block or call back into the session).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_file.h"
#include "stream/energy_vad.h"

namespace glmasr::stream {

// One turn to transcribe and what comes back.
struct TurnRequest {
  Audio audio;              // 16 kHz mono
  std::string prompt;       // empty: the default instruction
  bool background = false;  // interim hypotheses: below committed turns in the engine loop
  std::shared_ptr<std::atomic<bool>> cancelled;          // set: drop the work
  std::function<void(std::string_view delta)> on_delta;  // text as it is decoded; may be unset
};

struct TurnResult {
  std::optional<std::string> transcript;  // absent: failed (error says why) or cancelled
  std::string error;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

// Asynchronous: calls `done` exactly once, from any thread (possibly before returning). May
// throw instead (the turn then fails).
using TranscribeTurnFn =
    std::function<void(TurnRequest request, std::function<void(TurnResult result)> done)>;

struct RealtimeLimits {
  double max_session_seconds = 3600;    // audio appended in all; past it: error + close 1008
  size_t max_append_bytes = 15u << 20;  // the base64 text of one append
  // Uncommitted audio: manual turns are refused past it; a VAD turn is committed at it.
  double max_buffer_seconds = 600;
};

// WebSocket close codes the session asks for (RFC 6455).
inline constexpr int kClosePolicyViolation = 1008;

struct RealtimeOutput {
  std::function<void(const nlohmann::json& event)> send;
  std::function<void(int code, const std::string& reason)> close;  // then nothing more is sent
};

class RealtimeSession : public std::enable_shared_from_this<RealtimeSession> {
 public:
  static std::shared_ptr<RealtimeSession> create(std::string model_id, RealtimeLimits limits,
                                                 TranscribeTurnFn transcribe,
                                                 RealtimeOutput output);

  // Sends session.created. Call once, first.
  void start();
  // One client event (a WebSocket text message). Never throws: mistakes become error events.
  void handle_event(std::string_view message);
  // A binary WebSocket message: not part of the protocol (an error event).
  void handle_binary();
  // PCM16 at the session's rate, as input_audio_buffer.append decodes it (glmasr stream).
  void append(std::span<const int16_t> samples);
  // End of input (glmasr stream at end of file): an open turn is committed, as a pause would.
  void finish_input();
  // The client went away: every turn's work is cancelled and nothing more is sent.
  void close();

  int sample_rate() const;
  // Uncommitted audio held, in samples at sample_rate() (what the buffer limits bound).
  size_t buffered_samples() const;

 private:
  struct Config {
    int rate = 24000;
    std::string model;
    std::string prompt;
    std::string language;
    std::optional<VadParams> vad = VadParams{};
    bool interim = false;
    int interim_interval_ms = 1000;
  };
  struct Failure {  // a client mistake, reported as an error event
    std::string code;
    std::string message;
    std::string param;
  };

  struct PendingTurn {
    TurnRequest request;
    std::function<void(TurnResult)> done;
  };

  RealtimeSession(std::string model_id, RealtimeLimits limits, TranscribeTurnFn transcribe,
                  RealtimeOutput output);

  void handle_event_locked(std::string_view message);
  void finish_input_locked();
  void interim_done(const std::string& item, const std::atomic<bool>& cancelled,
                    int64_t audio_end_ms, TurnResult result);
  void run_pending();
  void send_locked(nlohmann::json event);
  void error_locked(const Failure& failure, const std::string& event_id);
  void dispatch_locked(const nlohmann::json& event);
  void update_locked(const nlohmann::json& event);
  void append_event_locked(const nlohmann::json& event);
  void append_locked(std::span<const int16_t> samples);
  void vad_append_locked(std::span<const int16_t> samples);
  void cut_turn_at_limit_locked();
  size_t buffer_limit_samples() const;
  void commit_event_locked();
  void clear_locked();
  // Cuts [buffer_start_, end) out of the buffer as a committed turn and transcribes it.
  void commit_turn_locked(int64_t end);
  void maybe_interim_locked();
  std::string open_item_locked();
  nlohmann::json session_json_locked() const;
  int64_t ms(int64_t sample) const { return sample * 1000 / config_.rate; }

  const std::string model_id_;
  const RealtimeLimits limits_;
  const TranscribeTurnFn transcribe_;
  const RealtimeOutput output_;

  mutable std::mutex mutex_;
  Config config_;
  bool closed_ = false;
  uint64_t next_event_ = 1;
  uint64_t next_item_ = 1;
  std::shared_ptr<std::atomic<bool>> cancelled_ = std::make_shared<std::atomic<bool>>(false);

  int64_t total_samples_ = 0;  // appended since the session began, at config_.rate
  std::optional<EnergyVad> vad_;
  int64_t vad_origin_ = 0;       // total_samples_ when vad_ began
  std::vector<int16_t> buffer_;  // uncommitted audio
  int64_t buffer_start_ = 0;     // the session sample of buffer_[0]
  std::string open_item_;        // the open turn's item id; empty: none yet
  std::string previous_item_;    // the last committed item

  // Interim hypotheses of the open turn: one in flight at a time.
  bool interim_in_flight_ = false;
  int64_t interim_at_ = 0;        // the session sample the last one covered up to
  std::string interim_previous_;  // the last hypothesis of the open turn
  std::shared_ptr<std::atomic<bool>> interim_cancelled_;
  std::vector<PendingTurn> pending_;  // to hand to transcribe_ once the lock is released
};

}  // namespace glmasr::stream
