// glmasr serve: the HTTP transcription service. Loads the model once, then answers
// OpenAI-compatible POST /v1/audio/transcriptions requests; concurrent requests are decoded
// together by one batching worker. SIGINT/SIGTERM stop it after the requests in progress.
#include <csignal>
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "engine/engine_factory.h"
#include "model/config.h"
#include "model/model_location.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_loop.h"
#include "server/batch_worker.h"
#include "server/http_server.h"
#include "server/transcription_api.h"
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
    "  --dtype bf16|fp16        GPU precision (default bf16)\n"
    "  --max-batch N            sequences decoded together on the GPU (default 32)\n"
    "  --max-new-tokens N       per segment (default 500)\n"
    "  --max-upload-mb N        largest request body (default 200)\n"
    "  --max-audio-seconds S    longest audio accepted (default 7200)\n"
    "  --threads N              connection threads (default 8)\n"
    "  --read-timeout S         seconds a client may stall mid-request (default 30)\n"
    "  --quiet                  no log line per request\n"
    "Endpoints: POST /v1/audio/transcriptions (multipart field 'file', or an audio/* body),\n"
    "           GET /health, GET /v1/models\n";

// The signal handler can only reach the server through this.
server::HttpServer* g_running_server = nullptr;

extern "C" void stop_on_signal(int) {
  if (g_running_server) g_running_server->request_stop();
}

}  // namespace

int run_serve(const CommandArgs& argv) {
  const Args args(argv, {{"--model", true},
                         {"--host", true},
                         {"--port", true},
                         {"--device", true},
                         {"--dtype", true},
                         {"--max-batch", true},
                         {"--max-new-tokens", true},
                         {"--max-upload-mb", true},
                         {"--max-audio-seconds", true},
                         {"--threads", true},
                         {"--read-timeout", true},
                         {"--quiet", false},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    std::fputs(kUsage, stderr);
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
  engine_options.max_batch = static_cast<int>(args.get_int("--max-batch", 32, 1, 1024));

  TranscribeOptions transcribe_options;
  transcribe_options.max_new_tokens =
      static_cast<int>(args.get_int("--max-new-tokens", 500, 1, 8192));
  const std::string default_prompt = transcribe_options.prompt_text;

  server::HttpServerOptions server_options;
  server_options.host = args.get_or("--host", "127.0.0.1");
  server_options.port = static_cast<int>(args.get_int("--port", 8080, 0, 65535));
  server_options.connection_threads = static_cast<int>(args.get_int("--threads", 8, 1, 256));
  server_options.limits.max_body_bytes =
      static_cast<size_t>(args.get_int("--max-upload-mb", 200, 1, 16384)) << 20;
  server_options.limits.read_timeout_ms =
      static_cast<int>(args.get_double("--read-timeout", 30, 0.1, 3600) * 1000);
  server_options.log_requests = !args.has("--quiet");

  server::ApiOptions api_options;
  api_options.max_audio_seconds = args.get_double("--max-audio-seconds", 7200, 1, 1e6);

  const ModelLocation model = locate_model(args.get("--model"));
  api_options.model_id = std::filesystem::path(model.dir).lexically_normal().filename().string();
  if (api_options.model_id.empty()) api_options.model_id = kDefaultModelName;
  const Tokenizer tokenizer = Tokenizer::from_file(ModelFolder{model.dir}.tokenizer_path());
  auto engine = create_engine(model.dir, engine_options);
  std::fprintf(stderr, "glmasr serve: model %s on %s\n", model.dir.c_str(),
               engine->describe().c_str());

  EngineLoop loop(*engine, engine_options.max_batch);
  // Only the worker thread calls this; the engine loop batches its segments with the others.
  server::BatchWorker worker(
      [&](const std::vector<Audio>& inputs, const std::string& prompt) {
        if (server_options.log_requests && inputs.size() > 1)
          std::fprintf(stderr, "glmasr serve: transcribing %zu requests together\n", inputs.size());
        TranscribeOptions options = transcribe_options;
        options.prompt_text = prompt.empty() ? default_prompt : prompt;
        Transcriber transcriber(loop, tokenizer, options);
        return transcriber.transcribe_audio(inputs);
      },
      /*max_queued=*/1024);
  const server::TranscriptionApi api(api_options, [&](Audio audio, const std::string& prompt) {
    return worker.submit(std::move(audio), prompt).get();
  });

  server::HttpServer http(server_options,
                          [&](const server::HttpRequest& request) { return api.handle(request); });
  g_running_server = &http;
  struct sigaction action {};
  action.sa_handler = stop_on_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  std::fprintf(stderr, "glmasr serve: listening on http://%s:%d\n", server_options.host.c_str(),
               http.port());
  http.run();
  g_running_server = nullptr;
  worker.stop();
  std::fprintf(stderr, "glmasr serve: stopped\n");
  return 0;
}

}  // namespace glmasr::cli
