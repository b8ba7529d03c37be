#include "stream/realtime_session.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "audio/features.h"
#include "audio/resample.h"
#include "core/error.h"
#include "stream/base64.h"
#include "stream/local_agreement.h"

namespace glmasr::stream {

namespace {

using nlohmann::json;

constexpr int kMinCommitMs = 100;          // OpenAI refuses smaller commits too
constexpr size_t kMaxEchoedEventId = 128;  // an error repeats at most this much of event_id

json usage_json(int64_t input_tokens, int64_t output_tokens) {
  return {{"type", "tokens"},
          {"input_tokens", input_tokens},
          {"output_tokens", output_tokens},
          {"total_tokens", input_tokens + output_tokens}};
}

Audio to_model_audio(const std::vector<int16_t>& pcm, int rate, const std::string& item) {
  std::vector<float> samples(pcm.size());
  for (size_t i = 0; i < pcm.size(); ++i) samples[i] = pcm[i] / 32768.0f;
  Audio audio;
  audio.samples = resample(std::move(samples), rate, kSampleRate);
  audio.source_sample_rate = rate;
  audio.source_channels = 1;
  audio.source = item;
  return audio;
}

std::string type_name(const json& value) {
  return value.is_null() ? "null" : value.type_name();
}

}  // namespace

std::shared_ptr<RealtimeSession> RealtimeSession::create(std::string model_id,
                                                         RealtimeLimits limits,
                                                         TranscribeTurnFn transcribe,
                                                         RealtimeOutput output) {
  return std::shared_ptr<RealtimeSession>(
      new RealtimeSession(std::move(model_id), limits, std::move(transcribe), std::move(output)));
}

RealtimeSession::RealtimeSession(std::string model_id, RealtimeLimits limits,
                                 TranscribeTurnFn transcribe, RealtimeOutput output)
    : model_id_(std::move(model_id)),
      limits_(limits),
      transcribe_(std::move(transcribe)),
      output_(std::move(output)) {
  config_.model = model_id_;
  vad_.emplace(*config_.vad, config_.rate);
}

int RealtimeSession::sample_rate() const {
  std::lock_guard lock(mutex_);
  return config_.rate;
}

size_t RealtimeSession::buffered_samples() const {
  std::lock_guard lock(mutex_);
  return buffer_.size();
}

void RealtimeSession::send_locked(json event) {
  if (closed_) return;
  event["event_id"] = cat("event_", next_event_++);
  output_.send(event);
}

void RealtimeSession::error_locked(const Failure& failure, const std::string& event_id) {
  json error = {
      {"type", "invalid_request_error"},
      {"code", failure.code},
      {"message", failure.message},
      {"param", failure.param.empty() ? json(nullptr) : json(failure.param)},
      {"event_id", event_id.empty() ? json(nullptr) : json(event_id.substr(0, kMaxEchoedEventId))}};
  send_locked({{"type", "error"}, {"error", std::move(error)}});
}

json RealtimeSession::session_json_locked() const {
  json turn_detection = nullptr;
  if (config_.vad)
    turn_detection = {{"type", "server_vad"},
                      {"threshold", config_.vad->threshold},
                      {"prefix_padding_ms", config_.vad->prefix_padding_ms},
                      {"silence_duration_ms", config_.vad->silence_duration_ms}};
  return {{"type", "transcription"},
          {"object", "realtime.transcription_session"},
          {"audio",
           {{"input",
             {{"format", {{"type", "audio/pcm"}, {"rate", config_.rate}}},
              {"transcription",
               {{"model", config_.model},
                {"prompt", config_.prompt},
                {"language", config_.language.empty() ? json(nullptr) : json(config_.language)}}},
              {"turn_detection", turn_detection},
              {"interim",
               {{"enabled", config_.interim}, {"interval_ms", config_.interim_interval_ms}}}}}}}};
}

void RealtimeSession::start() {
  std::lock_guard lock(mutex_);
  send_locked({{"type", "session.created"}, {"session", session_json_locked()}});
}

void RealtimeSession::handle_binary() {
  std::lock_guard lock(mutex_);
  error_locked({.code = "binary_not_supported",
                .message = "binary WebSocket messages are not part of the protocol: expected "
                           "JSON text events (audio as base64 in input_audio_buffer.append)",
                .param = ""},
               "");
}

void RealtimeSession::handle_event(std::string_view message) {
  {
    std::lock_guard lock(mutex_);
    handle_event_locked(message);
  }
  run_pending();
}

void RealtimeSession::handle_event_locked(std::string_view message) {
  if (closed_) return;
  json event = json::parse(message, nullptr, false);
  if (event.is_discarded())
    return error_locked({.code = "invalid_json",
                         .message = "the event is not valid JSON: expected one JSON object",
                         .param = ""},
                        "");
  if (!event.is_object())
    return error_locked({.code = "invalid_event",
                         .message = cat("the event is a JSON ", type_name(event),
                                        ": expected an object with a \"type\""),
                         .param = ""},
                        "");
  dispatch_locked(event);
}

void RealtimeSession::dispatch_locked(const json& event) {
  std::string event_id;
  if (auto it = event.find("event_id"); it != event.end() && it->is_string()) event_id = *it;
  const auto type_it = event.find("type");
  if (type_it == event.end() || !type_it->is_string())
    return error_locked(
        {.code = "invalid_event", .message = "the event has no string \"type\"", .param = "type"},
        event_id);
  const std::string& type = type_it->get_ref<const std::string&>();
  try {
    if (type == "input_audio_buffer.append") return append_event_locked(event);
    if (type == "input_audio_buffer.commit") return commit_event_locked();
    if (type == "input_audio_buffer.clear") return clear_locked();
    if (type == "session.update" || type == "transcription_session.update")
      return update_locked(event);
  } catch (const Failure& failure) {
    return error_locked(failure, event_id);
  } catch (const std::exception& e) {  // InputError from the VAD's checks, resampling, ...
    return error_locked({.code = "invalid_value", .message = e.what(), .param = ""}, event_id);
  }
  error_locked({.code = "unknown_event_type",
                .message = cat("unknown event type '", type.substr(0, 64),
                               "': expected session.update, input_audio_buffer.append, "
                               "input_audio_buffer.commit or input_audio_buffer.clear"),
                .param = "type"},
               event_id);
}

namespace {

// The member `key` of `object` when present and not null, checked to be of the kind wanted.
const json* member(const json& object, const char* key, json::value_t kind,
                   const std::string& path) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  const bool ok = kind == json::value_t::number_float     ? it->is_number()
                  : kind == json::value_t::number_integer ? it->is_number_integer()
                                                          : it->type() == kind;
  if (!ok) {
    const char* wanted = kind == json::value_t::object           ? "an object"
                         : kind == json::value_t::string         ? "a string"
                         : kind == json::value_t::boolean        ? "a boolean"
                         : kind == json::value_t::number_integer ? "an integer"
                                                                 : "a number";
    throw std::runtime_error(cat(path, ".", key, " is ", type_name(*it), ": expected ", wanted));
  }
  return &*it;
}

}  // namespace

void RealtimeSession::update_locked(const json& event) {
  // Everything is checked before anything changes: a refused update leaves the session as it was.
  Config next = config_;
  const auto fail = [](std::string code, std::string message, std::string param) {
    throw Failure{
        .code = std::move(code), .message = std::move(message), .param = std::move(param)};
  };
  try {
    const json* session = member(event, "session", json::value_t::object, "event");
    if (!session) fail("missing_session", "session.update has no \"session\" object", "session");
    if (const json* type = member(*session, "type", json::value_t::string, "session");
        type && *type != "transcription")
      fail("unsupported_session_type",
           cat("session.type '", type->get<std::string>(), "': expected \"transcription\""),
           "session.type");
    const json* audio = member(*session, "audio", json::value_t::object, "session");
    const json* input =
        audio ? member(*audio, "input", json::value_t::object, "session.audio") : nullptr;
    const std::string at = "session.audio.input";
    if (input) {
      if (const json* format = member(*input, "format", json::value_t::object, at)) {
        if (const json* type = member(*format, "type", json::value_t::string, at + ".format");
            type && *type != "audio/pcm")
          fail("unsupported_audio_format",
               cat("audio format '", type->get<std::string>(),
                   "': expected \"audio/pcm\" (PCM16 little-endian mono)"),
               at + ".format.type");
        if (const json* rate =
                member(*format, "rate", json::value_t::number_integer, at + ".format")) {
          const int64_t value = rate->get<int64_t>();
          if (value != 16000 && value != 24000)
            fail("unsupported_sample_rate",
                 cat("sample rate ", value, " Hz: expected 16000 or 24000"), at + ".format.rate");
          next.rate = static_cast<int>(value);
        }
      }
      if (const json* t = member(*input, "transcription", json::value_t::object, at)) {
        if (const json* v = member(*t, "model", json::value_t::string, at + ".transcription"))
          next.model = *v;
        if (const json* v = member(*t, "prompt", json::value_t::string, at + ".transcription"))
          next.prompt = *v;
        if (const json* v = member(*t, "language", json::value_t::string, at + ".transcription"))
          next.language = *v;
      }
      if (auto it = input->find("turn_detection"); it != input->end()) {
        if (it->is_null()) {
          next.vad.reset();
        } else {
          const json* td = member(*input, "turn_detection", json::value_t::object, at);
          const std::string where = at + ".turn_detection";
          const json* type = member(*td, "type", json::value_t::string, where);
          if (!type || *type != "server_vad")
            fail(
                "unsupported_turn_detection",
                cat("turn_detection.type ", type ? "'" + type->get<std::string>() + "'" : "missing",
                    ": expected \"server_vad\" or turn_detection null (manual commits)"),
                where + ".type");
          VadParams params = next.vad.value_or(VadParams{});
          if (const json* v = member(*td, "threshold", json::value_t::number_float, where))
            params.threshold = v->get<double>();
          if (const json* v =
                  member(*td, "prefix_padding_ms", json::value_t::number_integer, where))
            params.prefix_padding_ms = static_cast<int>(std::clamp<int64_t>(*v, -1, 100000));
          if (const json* v =
                  member(*td, "silence_duration_ms", json::value_t::number_integer, where))
            params.silence_duration_ms = static_cast<int>(std::clamp<int64_t>(*v, -1, 100000));
          EnergyVad check(params, next.rate);  // throws InputError naming a bad value
          next.vad = params;
        }
      }
      if (const json* interim = member(*input, "interim", json::value_t::object, at)) {
        if (const json* v = member(*interim, "enabled", json::value_t::boolean, at + ".interim"))
          next.interim = *v;
        if (const json* v =
                member(*interim, "interval_ms", json::value_t::number_integer, at + ".interim")) {
          const int64_t value = *v;
          if (value < 100 || value > 60000)
            fail("invalid_value", cat("interim.interval_ms ", value, ": expected 100 to 60000"),
                 at + ".interim.interval_ms");
          next.interim_interval_ms = static_cast<int>(value);
        }
      }
    }
  } catch (const Failure&) {
    throw;
  } catch (const std::exception& e) {
    fail("invalid_value", e.what(), "session");
  }
  if (next.rate != config_.rate && total_samples_ > 0)
    fail("rate_change_after_audio",
         cat("the sample rate can only change before the first append (it is ", config_.rate,
             " Hz)"),
         "session.audio.input.format.rate");
  const bool vad_changed =
      next.vad.has_value() != config_.vad.has_value() ||
      (next.vad && (next.vad->threshold != config_.vad->threshold ||
                    next.vad->prefix_padding_ms != config_.vad->prefix_padding_ms ||
                    next.vad->silence_duration_ms != config_.vad->silence_duration_ms)) ||
      next.rate != config_.rate;
  config_ = next;
  if (vad_changed) {
    // A new detector starts at the current sample; an open turn stays open as manual audio.
    vad_.reset();
    if (config_.vad) vad_.emplace(*config_.vad, config_.rate);
    vad_origin_ = total_samples_;
  }
  send_locked({{"type", "session.updated"}, {"session", session_json_locked()}});
}

void RealtimeSession::append_event_locked(const json& event) {
  const auto it = event.find("audio");
  if (it == event.end() || !it->is_string())
    throw Failure{.code = "invalid_audio",
                  .message =
                      "input_audio_buffer.append needs \"audio\": base64 PCM16 "
                      "little-endian mono",
                  .param = "audio"};
  const std::string& text = it->get_ref<const std::string&>();
  if (text.size() > limits_.max_append_bytes)
    throw Failure{
        .code = "audio_too_large",
        .message = cat("an append carries ", text.size(), " bytes of base64: expected at most ",
                       limits_.max_append_bytes, " (send the audio in smaller pieces)"),
        .param = "audio"};
  std::optional<std::string> bytes = decode_base64(text);
  if (!bytes)
    throw Failure{.code = "invalid_base64",
                  .message = "\"audio\" is not valid base64 (RFC 4648 with padding)",
                  .param = "audio"};
  if (bytes->size() % 2 != 0)
    throw Failure{.code = "invalid_audio_length",
                  .message = cat("\"audio\" holds ", bytes->size(),
                                 " bytes: PCM16 needs an even count (2 bytes a sample)"),
                  .param = "audio"};
  std::vector<int16_t> samples(bytes->size() / 2);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = static_cast<int16_t>(
        static_cast<uint16_t>(static_cast<unsigned char>((*bytes)[2 * i])) |
        static_cast<uint16_t>(static_cast<unsigned char>((*bytes)[2 * i + 1])) << 8);
  append_locked(samples);
}

void RealtimeSession::append(std::span<const int16_t> samples) {
  {
    std::lock_guard lock(mutex_);
    try {
      append_locked(samples);
    } catch (const Failure& failure) {
      error_locked(failure, "");
    }
  }
  run_pending();
}

std::string RealtimeSession::open_item_locked() {
  if (open_item_.empty()) open_item_ = cat("item_", next_item_++);
  return open_item_;
}

void RealtimeSession::append_locked(std::span<const int16_t> samples) {
  if (closed_ || samples.empty()) return;
  const double session_seconds =
      double(total_samples_ + static_cast<int64_t>(samples.size())) / config_.rate;
  if (session_seconds > limits_.max_session_seconds) {
    error_locked({.code = "session_too_long",
                  .message = cat("the session is over its limit of ", limits_.max_session_seconds,
                                 " s of audio: start a new session"),
                  .param = ""},
                 "");
    closed_ = true;
    cancelled_->store(true);
    if (interim_cancelled_) interim_cancelled_->store(true);
    if (output_.close) output_.close(kClosePolicyViolation, "session audio limit reached");
    return;
  }
  if (!vad_) {
    if (double(buffer_.size() + samples.size()) / config_.rate > limits_.max_buffer_seconds)
      throw Failure{
          .code = "input_audio_buffer_full",
          .message = cat("the uncommitted audio would exceed ", limits_.max_buffer_seconds,
                         " s: commit (input_audio_buffer.commit) before appending more"),
          .param = "audio"};
    buffer_.insert(buffer_.end(), samples.begin(), samples.end());
    total_samples_ += static_cast<int64_t>(samples.size());
    open_item_locked();
    return maybe_interim_locked();
  }
  // The detector sees the audio in pieces that fit the buffer, so that a turn without a pause
  // is committed at the limit (and the next begins) instead of growing past it.
  const size_t limit = buffer_limit_samples();
  while (!samples.empty()) {
    if (buffer_.size() >= limit) cut_turn_at_limit_locked();
    const size_t room = limit > buffer_.size() ? limit - buffer_.size() : 1;
    const size_t piece = std::min(room, samples.size());
    vad_append_locked(samples.first(piece));
    samples = samples.subspan(piece);
  }
}

size_t RealtimeSession::buffer_limit_samples() const {
  return std::max<size_t>(
      1, static_cast<size_t>(std::floor(limits_.max_buffer_seconds * config_.rate)));
}

// A VAD turn as long as the buffer allows ends there, as if a pause had closed it.
void RealtimeSession::cut_turn_at_limit_locked() {
  const int64_t end = buffer_start_ + static_cast<int64_t>(buffer_.size());
  if (vad_->in_speech()) {
    send_locked({{"type", "input_audio_buffer.speech_stopped"},
                 {"audio_end_ms", ms(end)},
                 {"item_id", open_item_locked()}});
    vad_->reset();
    return commit_turn_locked(end);
  }
  // Not in a turn: what is kept is prefix padding; keep the newer half.
  const int64_t drop = static_cast<int64_t>(buffer_.size() / 2);
  buffer_.erase(buffer_.begin(), buffer_.begin() + drop);
  buffer_start_ += drop;
}

void RealtimeSession::vad_append_locked(std::span<const int16_t> samples) {
  buffer_.insert(buffer_.end(), samples.begin(), samples.end());
  total_samples_ += static_cast<int64_t>(samples.size());
  for (const VadEvent& event : vad_->push(samples)) {
    const int64_t at = vad_origin_ + event.sample;
    if (event.kind == VadEvent::Kind::kSpeechStarted) {
      // Audio before the turn (beyond its prefix padding) is not part of it.
      const int64_t drop =
          std::clamp<int64_t>(at - buffer_start_, 0, static_cast<int64_t>(buffer_.size()));
      buffer_.erase(buffer_.begin(), buffer_.begin() + drop);
      buffer_start_ += drop;
      send_locked({{"type", "input_audio_buffer.speech_started"},
                   {"audio_start_ms", ms(buffer_start_)},
                   {"item_id", open_item_locked()}});
    } else {
      send_locked({{"type", "input_audio_buffer.speech_stopped"},
                   {"audio_end_ms", ms(at)},
                   {"item_id", open_item_locked()}});
      commit_turn_locked(at);
    }
  }
  if (!vad_->in_speech()) {
    // Between turns only the prefix padding (and a frame) can become part of the next turn.
    const int64_t keep =
        int64_t{config_.vad->prefix_padding_ms + kVadFrameMs * (kMinSpeechFrames + 1)} *
        config_.rate / 1000;
    if (static_cast<int64_t>(buffer_.size()) > keep) {
      const int64_t drop = static_cast<int64_t>(buffer_.size()) - keep;
      buffer_.erase(buffer_.begin(), buffer_.begin() + drop);
      buffer_start_ += drop;
    }
    return;
  }
  maybe_interim_locked();
}

void RealtimeSession::commit_event_locked() {
  const int64_t buffered_ms = ms(static_cast<int64_t>(buffer_.size()));
  if (buffered_ms < kMinCommitMs)
    throw Failure{.code = "input_audio_buffer_commit_empty",
                  .message = cat("the buffer holds ", buffered_ms,
                                 " ms of audio: expected at least ", kMinCommitMs, " ms to commit"),
                  .param = ""};
  if (vad_) vad_->reset();
  commit_turn_locked(buffer_start_ + static_cast<int64_t>(buffer_.size()));
}

void RealtimeSession::clear_locked() {
  buffer_start_ += static_cast<int64_t>(buffer_.size());
  buffer_.clear();
  if (vad_) vad_->reset();
  open_item_.clear();
  interim_previous_.clear();
  if (interim_cancelled_) interim_cancelled_->store(true);
  interim_at_ = buffer_start_;
  send_locked({{"type", "input_audio_buffer.cleared"}});
}

void RealtimeSession::commit_turn_locked(int64_t end) {
  const int64_t count =
      std::clamp<int64_t>(end - buffer_start_, 0, static_cast<int64_t>(buffer_.size()));
  std::vector<int16_t> turn(buffer_.begin(), buffer_.begin() + count);
  buffer_.erase(buffer_.begin(), buffer_.begin() + count);
  buffer_start_ += count;
  const std::string item = open_item_locked();
  open_item_.clear();
  interim_previous_.clear();
  if (interim_cancelled_) interim_cancelled_->store(true);  // a stale hypothesis is dropped
  interim_at_ = buffer_start_;
  send_locked(
      {{"type", "input_audio_buffer.committed"},
       {"item_id", item},
       {"previous_item_id", previous_item_.empty() ? json(nullptr) : json(previous_item_)}});
  previous_item_ = item;

  auto self = shared_from_this();
  const auto failed = [self, item](const std::string& message) {
    self->send_locked({{"type", "conversation.item.input_audio_transcription.failed"},
                       {"item_id", item},
                       {"content_index", 0},
                       {"error",
                        {{"type", "transcription_error"},
                         {"code", "transcription_failed"},
                         {"message", message}}}});
  };
  TurnRequest request;
  request.prompt = config_.prompt;
  request.cancelled = cancelled_;
  request.on_delta = [self, item](std::string_view delta) {
    std::lock_guard lock(self->mutex_);
    self->send_locked({{"type", "conversation.item.input_audio_transcription.delta"},
                       {"item_id", item},
                       {"content_index", 0},
                       {"delta", delta}});
  };
  auto done = [self, item, failed](TurnResult result) {
    std::lock_guard lock(self->mutex_);
    if (self->closed_ || self->cancelled_->load()) return;
    if (!result.transcript)
      return failed(result.error.empty() ? "transcription failed" : result.error);
    self->send_locked({{"type", "conversation.item.input_audio_transcription.completed"},
                       {"item_id", item},
                       {"content_index", 0},
                       {"transcript", *result.transcript},
                       {"usage", usage_json(result.input_tokens, result.output_tokens)}});
  };
  try {
    request.audio = to_model_audio(turn, config_.rate, item);
  } catch (const std::exception& e) {
    return failed(e.what());
  }
  pending_.push_back({.request = std::move(request), .done = std::move(done)});
}

void RealtimeSession::maybe_interim_locked() {
  if (!config_.interim || interim_in_flight_ || open_item_.empty() || buffer_.empty()) return;
  const int64_t end = buffer_start_ + static_cast<int64_t>(buffer_.size());
  if (end - interim_at_ < int64_t{config_.interim_interval_ms} * config_.rate / 1000) return;
  interim_in_flight_ = true;
  interim_at_ = end;
  interim_cancelled_ = std::make_shared<std::atomic<bool>>(false);
  auto self = shared_from_this();
  const std::string item = open_item_;
  TurnRequest request;
  request.prompt = config_.prompt;
  request.background = true;
  request.cancelled = interim_cancelled_;
  auto flag = interim_cancelled_;
  auto done = [self, item, flag, audio_end_ms = ms(end)](TurnResult result) {
    self->interim_done(item, *flag, audio_end_ms, std::move(result));
    self->run_pending();
  };
  try {
    request.audio = to_model_audio(buffer_, config_.rate, item);
  } catch (const std::exception&) {
    interim_in_flight_ = false;
    return;
  }
  pending_.push_back({.request = std::move(request), .done = std::move(done)});
}

void RealtimeSession::interim_done(const std::string& item, const std::atomic<bool>& cancelled,
                                   int64_t audio_end_ms, TurnResult result) {
  std::lock_guard lock(mutex_);
  interim_in_flight_ = false;
  if (closed_ || cancelled.load() || open_item_ != item) return;  // the turn moved on
  if (result.transcript) {
    const std::string agreed = agreed_prefix(interim_previous_, *result.transcript);
    interim_previous_ = *result.transcript;
    send_locked({{"type", "conversation.item.input_audio_transcription.interim"},
                 {"item_id", item},
                 {"content_index", 0},
                 {"audio_end_ms", audio_end_ms},
                 {"transcript", *result.transcript},
                 {"agreed", agreed}});
  }
  maybe_interim_locked();  // the open audio may have grown past the next interval meanwhile
}

// Transcriptions start outside the lock: the function may answer before it returns, and its
// answer takes the lock.
void RealtimeSession::run_pending() {
  for (;;) {
    PendingTurn next;
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty()) return;
      next = std::move(pending_.front());
      pending_.erase(pending_.begin());
    }
    try {
      transcribe_(std::move(next.request), next.done);
    } catch (const std::exception& e) {
      next.done(
          {.transcript = std::nullopt, .error = e.what(), .input_tokens = 0, .output_tokens = 0});
    }
  }
}

void RealtimeSession::finish_input() {
  {
    std::lock_guard lock(mutex_);
    finish_input_locked();
  }
  run_pending();
}

void RealtimeSession::finish_input_locked() {
  if (closed_) return;
  if (ms(static_cast<int64_t>(buffer_.size())) >= kMinCommitMs && (!vad_ || vad_->in_speech())) {
    if (vad_) {
      send_locked({{"type", "input_audio_buffer.speech_stopped"},
                   {"audio_end_ms", ms(buffer_start_ + static_cast<int64_t>(buffer_.size()))},
                   {"item_id", open_item_locked()}});
      vad_->reset();
    }
    commit_turn_locked(buffer_start_ + static_cast<int64_t>(buffer_.size()));
  }
}

void RealtimeSession::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  cancelled_->store(true);
  if (interim_cancelled_) interim_cancelled_->store(true);
}

}  // namespace glmasr::stream
