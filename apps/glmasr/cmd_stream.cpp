// glmasr stream: live audio in, a line per turn out. Raw PCM s16le mono on standard input
// (`arecord -f S16_LE -r 16000 -c 1 | glmasr stream -`), or a file fed at real-time speed
// (--realtime FILE). The same RealtimeSession and EnergyVad as the server's /v1/realtime cut
// the turns; each is transcribed on the engine loop the moment it ends. On a terminal the
// interim hypothesis of the open turn (--interim) is redrawn in place.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "engine/engine_factory.h"
#include "model/model_location.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_loop.h"
#include "server/work_pool.h"
#include "stream/realtime_session.h"
#include "text/tokenizer.h"

namespace glmasr::cli {

namespace {

using nlohmann::json;

constexpr const char* kUsage =
    "usage: glmasr stream [--model DIR] [options] -\n"
    "       glmasr stream [--model DIR] [options] --realtime FILE\n"
    "  -                      raw PCM s16le mono on standard input at --rate\n"
    "  --realtime FILE        any audio file, fed at real-time speed (16 kHz)\n"
    "  --rate HZ              rate of the PCM on standard input: 16000 (default) or 24000\n"
    "  --format text|jsonl    text: a line per turn (default); jsonl: the session's events\n"
    "                         (speech_started/stopped, completed, failed, interim) as JSON lines\n"
    "  --threshold T          VAD threshold 0..1 (default 0.5)\n"
    "  --silence-ms MS        silence that ends a turn (default 500)\n"
    "  --prefix-ms MS         audio kept before speech starts (default 300)\n"
    "  --interim MS           re-transcribe the open turn every MS of audio (default: off)\n"
    "  --prompt TEXT          replaces the default instruction\n"
    "  --max-new-tokens N     per segment (default 500)\n"
    "  --device cpu|cuda      default: cuda when a GPU is present\n"
    "  --weights bf16|fp8     decoder weights (default bf16); fp8: E4M3, quantized at load\n";

constexpr int kChunkMs = 100;  // what one read or one real-time step hands the session

// Turns committed but not yet answered, so that the end of input waits for the last one.
class Outstanding {
 public:
  void add() {
    std::lock_guard lock(mutex_);
    ++count_;
  }
  void done() {
    std::lock_guard lock(mutex_);
    --count_;
    changed_.notify_all();
  }
  void wait_all() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [&] { return count_ <= 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

// A turn as one input of the transcriber, planned on `planner` (a turn may be handed over from
// the engine loop's own thread, when an interim result starts the next one) and decoded on the
// loop.
stream::TranscribeTurnFn local_transcriber(Transcriber& transcriber, server::WorkPool& planner) {
  return [&transcriber, &planner](stream::TurnRequest request,
                                  std::function<void(stream::TurnResult)> done) {
    InputOptions options;
    if (!request.prompt.empty()) options.prompt_text = request.prompt;
    options.cancelled = request.cancelled;
    options.on_text_delta = request.on_delta;
    options.background = request.background;
    auto prompt_tokens = std::make_shared<int64_t>(0);
    options.on_prompt_tokens = [prompt_tokens](int64_t n) { *prompt_tokens += n; };
    auto audio = std::make_shared<Audio>(std::move(request.audio));
    planner.post([&transcriber, options, audio, prompt_tokens, done = std::move(done)] {
      transcriber.submit(std::move(*audio), options,
                         [prompt_tokens, done = std::move(done)](InputResult result) {
                           stream::TurnResult turn;
                           if (result.transcript) {
                             turn.transcript = result.transcript->text;
                             for (const auto& segment : result.transcript->segments)
                               turn.output_tokens += static_cast<int64_t>(segment.tokens.size());
                             turn.input_tokens = *prompt_tokens;
                           } else {
                             turn.error = result.error;
                           }
                           done(std::move(turn));
                         });
    });
  };
}

}  // namespace

int run_stream(const CommandArgs& argv) {
  const Args args(argv, {{"--model", true},
                         {"--device", true},
                         {"--weights", true},
                         {"--realtime", true},
                         {"--rate", true},
                         {"--format", true},
                         {"--threshold", true},
                         {"--silence-ms", true},
                         {"--prefix-ms", true},
                         {"--interim", true},
                         {"--prompt", true},
                         {"--max-new-tokens", true},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  const bool from_file = args.has("--realtime");
  const bool from_stdin = args.positional().size() == 1 && args.positional()[0] == "-";
  if (from_file == from_stdin || args.positional().size() > 1)
    throw UsageError("expected either - (PCM on standard input) or --realtime FILE");
  if (from_file && args.has("--rate"))
    throw UsageError("--rate is for PCM on standard input; --realtime reads the file's own rate");
  const std::string format = args.get_choice("--format", "text", {"text", "jsonl"});
  const int rate = from_file ? 16000 : static_cast<int>(args.get_int("--rate", 16000, 1, 1000000));
  if (rate != 16000 && rate != 24000)
    throw UsageError(cat("--rate ", rate, ": expected 16000 or 24000"));
  const double threshold = args.get_double("--threshold", 0.5, 0, 1);
  const int silence_ms = static_cast<int>(args.get_int("--silence-ms", 500, 10, 10000));
  const int prefix_ms = static_cast<int>(args.get_int("--prefix-ms", 300, 0, 10000));
  const int interim_ms = static_cast<int>(args.get_int("--interim", 0, 0, 60000));
  if (interim_ms != 0 && interim_ms < 100)
    throw UsageError("--interim: expected 0 (off) or >= 100 ms");

  // Read the file before loading the model: a bad path fails at once.
  std::vector<int16_t> file_pcm;
  if (from_file) {
    const Audio audio = read_audio(*args.get("--realtime"));
    file_pcm.reserve(audio.samples.size());
    for (const float x : audio.samples)
      file_pcm.push_back(static_cast<int16_t>(std::lround(std::clamp(x, -1.0f, 1.0f) * 32767)));
  }

  TranscribeOptions options;
  options.max_new_tokens = static_cast<int>(args.get_int("--max-new-tokens", 500, 1, 8192));
  EngineOptions engine_options;
  engine_options.device = args.get_choice("--device", "auto", {"auto", "cpu", "cuda"});
  engine_options.weights = weights_option(args);
  engine_options.max_batch = 8;
  engine_options.max_sequence =
      static_cast<int>(512 + options.prompt_text.size() + 224 + options.max_new_tokens);
  const ModelLocation model = locate_model(args.get("--model"));
  const Tokenizer tokenizer = Tokenizer::from_file(ModelFolder{model.dir}.tokenizer_path());
  auto engine = create_engine(model.dir, engine_options);
  EngineLoop loop(*engine, engine_options.max_batch);
  Transcriber transcriber(loop, tokenizer, options);
  server::WorkPool planner(1);

  const bool terminal = format == "text" && ::isatty(STDOUT_FILENO);
  Outstanding outstanding;
  bool interim_shown = false;  // a hypothesis is drawn on the current terminal line
  const auto print = [&](const json& event) {
    const std::string& type = event["type"].get_ref<const std::string&>();
    if (type == "input_audio_buffer.committed") outstanding.add();
    const bool finished = type == "conversation.item.input_audio_transcription.completed" ||
                          type == "conversation.item.input_audio_transcription.failed";
    if (type == "error") {
      std::fprintf(stderr, "glmasr stream: %s\n",
                   event["error"]["message"].get<std::string>().c_str());
    } else if (format == "jsonl") {
      if (type.rfind("input_audio_buffer.speech_", 0) == 0 || finished ||
          type == "conversation.item.input_audio_transcription.interim")
        std::printf("%s\n", event.dump(-1, ' ', false, json::error_handler_t::replace).c_str());
    } else if (type == "conversation.item.input_audio_transcription.completed") {
      if (interim_shown) std::fputs("\r\x1b[K", stdout);
      interim_shown = false;
      std::printf("%s\n", event["transcript"].get<std::string>().c_str());
    } else if (type == "conversation.item.input_audio_transcription.failed") {
      std::fprintf(stderr, "glmasr stream: %s: %s\n", event["item_id"].get<std::string>().c_str(),
                   event["error"]["message"].get<std::string>().c_str());
    } else if (terminal && type == "conversation.item.input_audio_transcription.interim") {
      std::printf("\r\x1b[K%s", event["transcript"].get<std::string>().c_str());
      interim_shown = true;
    }
    std::fflush(stdout);
    if (finished) outstanding.done();
  };
  auto session = stream::RealtimeSession::create(
      "glmasr",
      {.max_session_seconds = 1e12, .max_append_bytes = 15u << 20, .max_buffer_seconds = 600},
      local_transcriber(transcriber, planner), {.send = print, .close = nullptr});
  session->start();
  json input = {
      {"format", {{"type", "audio/pcm"}, {"rate", rate}}},
      {"turn_detection",
       {{"type", "server_vad"},
        {"threshold", threshold},
        {"prefix_padding_ms", prefix_ms},
        {"silence_duration_ms", silence_ms}}},
      {"interim",
       {{"enabled", interim_ms > 0}, {"interval_ms", interim_ms > 0 ? interim_ms : 1000}}}};
  if (auto prompt = args.get("--prompt")) input["transcription"] = {{"prompt", *prompt}};
  session->handle_event(
      json({{"type", "session.update"}, {"session", {{"audio", {{"input", input}}}}}}).dump());

  const size_t chunk = static_cast<size_t>(rate) * kChunkMs / 1000;
  if (from_file) {
    // Real time: each chunk is handed over when its audio would have been spoken.
    const auto start = std::chrono::steady_clock::now();
    for (size_t at = 0; at < file_pcm.size(); at += chunk) {
      std::this_thread::sleep_until(start + std::chrono::milliseconds(at * 1000 / rate));
      session->append({file_pcm.data() + at, std::min(chunk, file_pcm.size() - at)});
    }
  } else {
    std::vector<int16_t> samples(chunk);
    std::vector<unsigned char> bytes(chunk * 2);
    size_t carry = 0;  // a byte of a sample split across reads
    for (;;) {
      const size_t got = std::fread(bytes.data() + carry, 1, bytes.size() - carry, stdin);
      if (got == 0) break;
      const size_t total = carry + got;
      const size_t count = total / 2;
      for (size_t i = 0; i < count; ++i)
        samples[i] = static_cast<int16_t>(bytes[2 * i] | bytes[2 * i + 1] << 8);
      session->append({samples.data(), count});
      carry = total % 2;
      if (carry) bytes[0] = bytes[total - 1];
    }
  }
  session->finish_input();
  outstanding.wait_all();
  planner.stop();  // interim runs still queued end here (cancelled), then the loop drains
  loop.stop();
  if (interim_shown) std::fputs("\r\x1b[K", stdout);
  return 0;
}

}  // namespace glmasr::cli
