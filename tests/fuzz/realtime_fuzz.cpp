// libFuzzer target for the Realtime event handler (stream/realtime_session.h): client events in,
// server events out, turns transcribed by a fake that answers at once (deltas, a transcript, a
// failure or a throw by turn number; interim hypotheses too). Input: one client event per line
// (a WebSocket text message); "@N " before a line sends it N times (N < 100), and a few lines
// stand for what is not a text event: "!binary" (a binary message), "!eof" (end of input, as
// glmasr stream sends it), "!tone MS" / "!quiet MS" (MS ms of loud or silent PCM appended
// directly, so that turns and buffer limits are within the fuzzer's reach).
// Invariants besides no crash: nothing escapes handle_event; every server event is a JSON
// object with a string "type" and an "event_id", and dumps to JSON that parses back; an event
// that is not JSON, not an object or has no string "type" is answered with an "error" event;
// transcription events name a committed item; the uncommitted audio never passes the buffer
// limit, nor does a turn handed to the engine.
#include <charconv>
#include <cmath>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "audio/features.h"
#include "fuzz_util.h"
#include "stream/realtime_session.h"

namespace {

using glmasr::fuzz::violated;
using glmasr::stream::RealtimeSession;
using nlohmann::json;

constexpr const char* kTarget = "realtime_fuzz";
// Small, so that an input of a few KB reaches every limit and costs little to run.
constexpr glmasr::stream::RealtimeLimits kLimits{
    .max_session_seconds = 10, .max_append_bytes = 1 << 14, .max_buffer_seconds = 1};

struct Run {
  std::vector<json> events;
  std::set<std::string> committed;
  bool closed = false;
  int turns = 0;
  int interims = 0;

  void on_event(const json& event) {
    if (closed) violated(kTarget, "an event after the session closed");
    if (!event.is_object()) violated(kTarget, "a server event that is not an object");
    const auto type = event.find("type");
    if (type == event.end() || !type->is_string() || type->get_ref<const std::string&>().empty())
      violated(kTarget, "a server event without a string type: " + event.dump());
    if (!event.contains("event_id") || !event["event_id"].is_string())
      violated(kTarget, "a server event without an event_id");
    const std::string text = event.dump(-1, ' ', false, json::error_handler_t::replace);
    if (json::parse(text, nullptr, false).is_discarded())
      violated(kTarget, "a server event that does not dump to JSON: " + text);
    const std::string& name = type->get_ref<const std::string&>();
    if (name == "input_audio_buffer.committed") committed.insert(event.value("item_id", ""));
    if (name.rfind("conversation.item.input_audio_transcription.", 0) == 0 &&
        name != "conversation.item.input_audio_transcription.interim" &&
        !committed.count(event.value("item_id", "")))
      violated(kTarget, name + " for an item never committed: " + text);
    events.push_back(event);
  }

  void transcribe(glmasr::stream::TurnRequest request,
                  const std::function<void(glmasr::stream::TurnResult)>& done) {
    if (request.audio.seconds() > kLimits.max_buffer_seconds + 0.05)
      violated(kTarget, "a turn of " + std::to_string(request.audio.seconds()) +
                            " s, over the buffer limit, reached the engine");
    for (float sample : request.audio.samples)
      if (!std::isfinite(sample)) violated(kTarget, "a turn with a sample that is not finite");
    if (request.background) {
      const std::string text = "so far " + std::to_string(++interims % 3);
      return done({.transcript = text, .error = "", .input_tokens = 0, .output_tokens = 0});
    }
    const int turn = ++turns;
    if (turn % 5 == 4) throw std::runtime_error("the fake engine is gone");
    if (turn % 3 == 2)
      return done({.transcript = std::nullopt,
                   .error = "fake failure",
                   .input_tokens = 0,
                   .output_tokens = 0});
    if (request.on_delta) {
      request.on_delta("turn ");
      request.on_delta("\xc3\xa9");
    }
    done({.transcript = "turn \xc3\xa9", .error = "", .input_tokens = 5, .output_tokens = 2});
  }
};

// What the session must answer with an error: not JSON, not an object, no string "type".
bool malformed(std::string_view line) {
  const json event = json::parse(line, nullptr, false);
  if (event.is_discarded() || !event.is_object()) return true;
  const auto type = event.find("type");
  return type == event.end() || !type->is_string();
}

std::vector<int16_t> pcm(int ms, int rate, bool loud) {
  std::vector<int16_t> samples(static_cast<size_t>(ms) * rate / 1000);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = loud ? static_cast<int16_t>((i / 20) % 2 ? 12000 : -12000) : 0;
  return samples;
}

void check_buffer(const RealtimeSession& session) {
  const double seconds = static_cast<double>(session.buffered_samples()) / session.sample_rate();
  if (seconds > kLimits.max_buffer_seconds)
    violated(kTarget, "the session buffers " + std::to_string(seconds) + " s, over the limit of " +
                          std::to_string(kLimits.max_buffer_seconds) + " s");
}

void step(RealtimeSession& session, Run& run, std::string_view line) {
  if (line == "!binary") return session.handle_binary();
  if (line == "!eof") return session.finish_input();
  for (const std::string_view kind : {std::string_view("!tone "), std::string_view("!quiet ")}) {
    if (line.rfind(kind, 0) != 0) continue;
    int ms = 0;
    std::from_chars(line.data() + kind.size(), line.data() + line.size(), ms);
    if (ms > 0 && ms <= 1000)
      session.append(pcm(ms, session.sample_rate(), kind == std::string_view("!tone ")));
    return;
  }
  const size_t before = run.events.size();
  session.handle_event(line);
  if (malformed(line) && !run.closed) {
    bool error = false;
    for (size_t i = before; i < run.events.size(); ++i) error |= run.events[i]["type"] == "error";
    if (!error) violated(kTarget, "a malformed event got no error event: " + std::string(line));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto copy = glmasr::fuzz::exact_copy(data, size);
  std::string_view input(copy.get(), size);
  Run run;
  auto session =
      RealtimeSession::create("GLM-ASR-Nano-2512", kLimits,
                              [&run](glmasr::stream::TurnRequest request,
                                     std::function<void(glmasr::stream::TurnResult)> done) {
                                run.transcribe(std::move(request), done);
                              },
                              {.send = [&run](const json& event) { run.on_event(event); },
                               .close = [&run](int, const std::string&) { run.closed = true; }});
  try {
    session->start();
    while (!input.empty()) {
      const size_t newline = input.find('\n');
      std::string_view line = input.substr(0, newline);
      input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
      int repeat = 1;
      if (line.size() > 2 && line[0] == '@') {
        const auto [end, error] =
            std::from_chars(line.data() + 1, line.data() + line.size(), repeat);
        if (error != std::errc() || end == line.data() + line.size() || *end != ' ' || repeat < 1 ||
            repeat > 99)
          repeat = 1;
        else
          line.remove_prefix(static_cast<size_t>(end - line.data()) + 1);
      }
      for (int i = 0; i < repeat; ++i) {
        step(*session, run, line);
        check_buffer(*session);
      }
    }
    session->finish_input();
    session->close();
  } catch (const std::exception& e) {
    violated(kTarget, std::string("an exception escaped the session: ") + e.what());
  }
  return 0;
}
