// glmasr serve: the HTTP transcription service. Loads the model once, then answers
// OpenAI-compatible POST /v1/audio/transcriptions requests; every request's segments join the
// engine loop's running batch at the next decoding step. SIGINT/SIGTERM stop it: the listening
// socket closes at once, the requests in progress finish, then it exits 0. A device fault makes it
// exit 1 (after answering) so that a supervisor restarts it.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "core/stopwatch.h"
#include "engine/engine_factory.h"
#include "engine/kv_budget.h"
#include "model/config.h"
#include "model/model_location.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_dispatcher.h"
#include "server/engine_backend.h"
#include "server/http_server.h"
#include "server/realtime_socket.h"
#include "server/transcription_api.h"
#include "server/work_pool.h"
#include "text/tokenizer.h"

namespace glmasr::cli {

namespace {

constexpr const char* kUsage =
    "usage: glmasr serve [--model DIR] [options]\n"
    "  --model DIR              model folder (else $GLMASR_MODEL, else "
    "~/.cache/glmasr/GLM-ASR-Nano-2512)\n"
    "  --host ADDR              address to listen on (default 127.0.0.1)\n"
    "  --port N                 TCP port (default 8080; 0 picks a free one)\n"
    "  --device cpu|cuda        default: cuda when a GPU is present\n"
    "  --devices all|LIST       GPUs to serve with, one engine each, requests' segments to the\n"
    "                           least loaded: all (default) or ordinals such as 0,2\n"
    "  --dtype bf16|fp16        GPU precision (default bf16)\n"
    "  --weights bf16|fp8       decoder weights (default bf16); fp8: E4M3, quantized at load\n"
    "  --max-batch N            sequences decoded together on the GPU (default 64)\n"
    "  --kv-cache-gb G          KV cache budget per engine; fewer sequences run together if it is "
    "smaller\n"
    "                           than --max-batch slots (default: --max-batch slots)\n"
    "  --max-new-tokens N       per segment (default 500)\n"
    "  --max-upload-mb N        largest request body (default 200)\n"
    "  --max-audio-seconds S    longest audio accepted (default 7200)\n"
    "  --served-model-name ID   the model id clients see (default GLM-ASR-Nano-2512)\n"
    "  --allowed-origins LIST   CORS: * or comma-separated origins (default: none)\n"
    "  --io-threads N           HTTP I/O threads (default min(4, cores))\n"
    "  --max-connections N      open connections; more get 503 (default 4096)\n"
    "  --idle-timeout S         keep-alive connection idle limit (default 30)\n"
    "  --head-timeout S         whole request head (default 10)\n"
    "  --body-timeout S         whole request body (default 120)\n"
    "  --request-timeout S      answer within S seconds or cancel with 504 (default: none)\n"
    "  --max-session-seconds S  audio one realtime session may send (default 3600)\n"
    "  --max-realtime-sessions N  open realtime WebSocket sessions (default 256)\n"
    "  --quiet                  no log line per request\n"
    "Endpoints: POST /v1/audio/transcriptions (multipart field 'file', or an audio/* body;\n"
    "           stream=true: server-sent events as the text is decoded),\n"
    "           GET /v1/realtime?intent=transcription (WebSocket: OpenAI Realtime transcription),\n"
    "           GET /v1/models, /v1/models/{id}, /health, /ready, /metrics\n";

int seconds_to_ms(double seconds) {
  return static_cast<int>(seconds * 1000);
}

}  // namespace

int run_serve(const CommandArgs& argv) {
  const Args args(argv, {{"--model", true},
                         {"--host", true},
                         {"--port", true},
                         {"--device", true},
                         {"--devices", true},
                         {"--dtype", true},
                         {"--weights", true},
                         {"--max-batch", true},
                         {"--kv-cache-gb", true},
                         {"--max-new-tokens", true},
                         {"--max-upload-mb", true},
                         {"--max-audio-seconds", true},
                         {"--served-model-name", true},
                         {"--allowed-origins", true},
                         {"--io-threads", true},
                         {"--max-connections", true},
                         {"--idle-timeout", true},
                         {"--head-timeout", true},
                         {"--body-timeout", true},
                         {"--request-timeout", true},
                         {"--max-session-seconds", true},
                         {"--max-realtime-sessions", true},
                         {"--quiet", false},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!args.positional().empty()) {
    std::fprintf(stderr, "glmasr serve: unexpected argument '%s'\n%s", args.positional()[0].c_str(),
                 kUsage);
    return 2;
  }

  EngineOptions engine_options;
  engine_options.device = args.get_or("--device", "auto");
  engine_options.dtype = args.get_or("--dtype", "bf16");
  engine_options.weights = weights_option(args);
  engine_options.max_batch = static_cast<int>(args.get_int("--max-batch", 64, 1, 1024));
  const std::vector<int> devices = devices_option(args, engine_options);

  TranscribeOptions transcribe_options;
  transcribe_options.max_new_tokens =
      static_cast<int>(args.get_int("--max-new-tokens", 500, 1, 8192));

  server::HttpServerOptions server_options{
      .host = args.get_or("--host", "127.0.0.1"),
      .port = static_cast<int>(args.get_int("--port", 8080, 0, 65535)),
      .io_threads = static_cast<int>(args.get_int("--io-threads", 0, 0, 256)),
      .max_connections = static_cast<size_t>(args.get_int("--max-connections", 4096, 1, 1 << 20)),
      .retry_after_seconds = 1,
      .idle_timeout_ms = seconds_to_ms(args.get_double("--idle-timeout", 30, 0.1, 86400)),
      .head_timeout_ms = seconds_to_ms(args.get_double("--head-timeout", 10, 0.1, 3600)),
      .body_timeout_ms = seconds_to_ms(args.get_double("--body-timeout", 120, 0.1, 86400)),
      .write_timeout_ms = 30000,
      .request_timeout_ms = seconds_to_ms(args.get_double("--request-timeout", 0, 0, 86400)),
      .max_head_bytes = 16384,
      .max_body_bytes = static_cast<size_t>(args.get_int("--max-upload-mb", 200, 1, 16384)) << 20,
      .max_chunk_extension_bytes = 256,
      .accept_backoff_ms = 100,
      .stop_on_signals = true,
      .log_requests = !args.has("--quiet"),
      .on_stop = nullptr,
      .on_upgrade = nullptr,
  };

  server::ApiOptions api_options;
  api_options.max_audio_seconds = args.get_double("--max-audio-seconds", 7200, 1, 1e6);
  api_options.model_id = args.get_or("--served-model-name", kDefaultModelName);
  if (args.has("--allowed-origins"))
    api_options.cors = server::CorsPolicy::parse(args.get_or("--allowed-origins", ""));

  const ModelLocation model = locate_model(args.get("--model"));
  const ModelFolder folder{model.dir};
  const ModelConfig config =
      load_model_config(folder.config_path(), folder.generation_config_path());
  // Every request is cut into segments of at most one 30 s window, so a KV slot needs the
  // audio tokens of one window, the template, the prompt text and the new tokens: sized by
  // need instead of the model's 8192 positions (longer prompts are refused with 400).
  engine_options.max_sequence =
      segment_sequence_positions(config, transcribe_options.max_new_tokens);
  if (args.has("--kv-cache-gb")) {
    const double budget = args.get_double("--kv-cache-gb", 0, 0.001, 1e6);
    const int slots = kv_slots_in_budget(config, engine_options.max_sequence, budget);
    if (slots < 1)
      throw UsageError(
          cat("--kv-cache-gb: ", budget, " GB holds no KV slot of ", engine_options.max_sequence,
              " positions (",
              engine_options.max_sequence * kv_bytes_per_position(config) / double(1 << 30),
              " GB each)"));
    engine_options.max_batch = std::min(engine_options.max_batch, slots);
  }
  const Tokenizer tokenizer = Tokenizer::from_file(folder.tokenizer_path());
  std::vector<std::unique_ptr<Engine>> loaded = create_engines(model.dir, engine_options, devices);
  // A service's first burst of clients would otherwise wait for one graph capture per new
  // batch size in the middle of their requests (the p99 of the first seconds).
  const Stopwatch warm_up;
  int prepared = 0;
  for (const auto& engine : loaded)
    prepared = std::max(prepared, engine->warm_up(engine_options.max_batch));
  if (prepared > 0)
    std::fprintf(stderr, "glmasr serve: prepared the decoding step for batches 1..%d in %.2f s\n",
                 prepared, warm_up.seconds());
  EngineDispatcher engines(std::move(loaded), engine_options.max_batch);
  for (size_t i = 0; i < engines.engine_count(); ++i) {
    const Engine& engine = engines.engine(i);
    std::fprintf(stderr,
                 "glmasr serve: model %s on %s (%s), served as %s; %d KV slots of %d positions "
                 "(%.2f GB)\n",
                 model.dir.c_str(), engine.device().c_str(), engine.describe().c_str(),
                 api_options.model_id.c_str(), engine.kv_slots(), engine.kv_positions(),
                 double(engine.kv_slots()) * engine.kv_positions() * kv_bytes_per_position(config) /
                     double(1 << 30));
  }

  server::ServiceState state;
  server::MetricsRegistry registry;
  Transcriber transcriber(engines, tokenizer, transcribe_options);
  server::EngineBackend backend(
      engines, transcriber,
      static_cast<int>(std::clamp(std::thread::hardware_concurrency() / 2, 1u, 4u)),
      /*max_pending=*/1024);
  // Decoding an upload is CPU work measured in milliseconds to seconds: off the I/O threads.
  server::WorkPool decoders(
      static_cast<int>(std::clamp(std::thread::hardware_concurrency() / 2, 1u, 4u)));

  std::atomic<bool> device_failed{false};
  std::atomic<server::HttpServer*> running{nullptr};
  api_options.load_stats = [&] { return backend.load(); };
  api_options.run_blocking = [&](std::function<void()> work) { decoders.post(std::move(work)); };
  api_options.on_device_fault = [&](const std::string& message) {
    if (device_failed.exchange(true)) return;
    std::fprintf(stderr, "glmasr serve: device fault, stopping: %s\n", message.c_str());
    if (server::HttpServer* server = running.load()) server->request_stop();
  };
  const server::TranscribeFn submit = [&](server::TranscriptionJob job,
                                          server::TranscriptionDone done) {
    backend.submit(std::move(job), std::move(done));
  };
  const server::TranscriptionApi api(api_options, submit, state, registry);
  server::RealtimeServerOptions realtime_options;
  realtime_options.model_id = api_options.model_id;
  realtime_options.metrics = &registry;
  realtime_options.limits.max_session_seconds =
      args.get_double("--max-session-seconds", 3600, 1, 1e7);
  realtime_options.max_sessions =
      static_cast<size_t>(args.get_int("--max-realtime-sessions", 256, 1, 1 << 20));
  server::RealtimeServer realtime(realtime_options, server::turn_transcriber(submit));

  server_options.on_upgrade = [&](std::unique_ptr<server::UpgradeRequest> upgrade) {
    realtime.accept(std::move(upgrade));
  };
  server_options.on_stop = [&] {
    state.draining = true;
    realtime.close_all();
  };
  server::HttpServer http(server_options,
                          [&](server::HttpRequest request, server::ResponderPtr responder) {
                            api.handle(std::move(request), std::move(responder));
                          });
  running = &http;
  std::signal(SIGPIPE, SIG_IGN);
  state.model_loaded = true;

  std::fprintf(stderr, "glmasr serve: listening on http://%s:%d (%d I/O threads)\n",
               server_options.host.c_str(), http.port(), http.io_threads());
  http.run();
  running = nullptr;
  decoders.stop();  // their work ends in the backend's planners; the api they call is still alive
  backend.stop();   // planned work is in the loop now
  engines.stop();   // decodes it, answering every request still in progress
  if (device_failed) {
    std::fprintf(stderr, "glmasr serve: stopped after a device fault\n");
    return 1;
  }
  std::fprintf(stderr, "glmasr serve: stopped\n");
  return 0;
}

}  // namespace glmasr::cli
