// glmasr transcribe: audio files to text. Every input is attempted; each one's output is
// written (or its failure reported) as soon as it is finished, failures are listed again at the
// end, and the exit code says whether all succeeded. Everything the command line can get wrong
// (options, -o, colliding outputs) is refused before the model loads.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <sstream>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "engine/engine_factory.h"
#include "engine/kv_budget.h"
#include "model/config.h"
#include "model/model_location.h"
#include "pipeline/subtitles.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_dispatcher.h"
#include "text/tokenizer.h"
#include "transcribe_outputs.h"

namespace glmasr::cli {

namespace {

constexpr const char* kUsage =
    "usage: glmasr transcribe [--model DIR] [options] FILE...\n"
    "  FILE is any audio file (WAV, FLAC, Ogg, MP3, ...) or - for standard input: a WAV, FLAC,\n"
    "  Ogg or MP3 stream, or raw s16le PCM with --input-rate.\n"
    "  --model DIR           model folder (else $GLMASR_MODEL, else "
    "~/.cache/glmasr/GLM-ASR-Nano-2512)\n"
    "  --device cpu|cuda     default: cuda when a GPU is present\n"
    "  --devices all|LIST    GPUs to use, one engine each, segments to the least loaded: all\n"
    "                        (default) or ordinals such as 0,2 (0,0: two engines on GPU 0)\n"
    "  --dtype bf16|fp16     GPU precision (default bf16)\n"
    "  --weights bf16|fp8    decoder weights (default bf16); fp8: E4M3 with per-row scales,\n"
    "                        quantized at load (CPU and GPU; the GPU also keeps a bf16 copy\n"
    "                        for prefill and large batches, ~3 GB on the real model)\n"
    "  --format F[,F...]     txt (default), json, verbose_json, srt, vtt\n"
    "  -o, --output-dir DIR  write DIR/<input name>.<ext> per input and format (txt, json,\n"
    "                        verbose.json, srt, vtt) as each input finishes\n"
    "  --max-new-tokens N    per segment (default 500)\n"
    "  --prompt TEXT         replaces 'Please transcribe this audio into text' (context, hot "
    "words)\n"
    "  --single-request      one prompt per file as the reference does (up to 630 s)\n"
    "  --no-loop-guard       do not end segments that repeat themselves\n"
    "  --max-batch N         sequences decoded together on the GPU (bounds memory; default 64)\n"
    "  --input-rate HZ       sample rate of raw PCM on stdin; --input-channels N (default 1)\n"
    "  --quiet               no progress line\n"
    "  --timings             print model load and transcription times to stderr\n";

std::vector<OutputFormat> parse_formats(const std::string& list) {
  std::vector<OutputFormat> formats;
  std::stringstream stream(list);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (item.empty()) continue;
    try {
      formats.push_back(parse_output_format(item));
    } catch (const Error& e) {
      fail_usage("--format: ", e.what());
    }
  }
  if (formats.empty()) fail_usage("--format: expected at least one format");
  return formats;
}

// Options that only mean something for some inputs or devices are refused rather than ignored.
void check_options_apply(const Args& args) {
  check_stdin_options(args);
  if (args.has("--dtype") && args.get("--device") == "cpu")
    fail_usage("--dtype applies to --device cuda; the CPU engine computes in float32");
}

}  // namespace

int run_transcribe(const CommandArgs& argv) {
  const Args args(argv, {{"--model", true},
                         {"--device", true},
                         {"--devices", true},
                         {"--dtype", true},
                         {"--weights", true},
                         {"--format", true},
                         {"--output-dir", true, "-o"},
                         {"--max-new-tokens", true},
                         {"--prompt", true},
                         {"--single-request", false},
                         {"--no-loop-guard", false},
                         {"--max-batch", true},
                         {"--input-rate", true},
                         {"--input-channels", true},
                         {"--quiet", false},
                         {"--timings", false},
                         {"--help", false, "-h"}});
  if (args.has("--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (args.positional().empty()) fail_usage("expected at least one FILE");
  check_options_apply(args);
  const std::vector<std::string>& inputs = args.positional();
  const std::vector<OutputFormat> formats = parse_formats(args.get_or("--format", "txt"));

  TranscribeOptions options;
  options.max_new_tokens = static_cast<int>(args.get_int("--max-new-tokens", 500, 1, 8192));
  if (auto prompt = args.get("--prompt")) options.prompt_text = *prompt;
  options.single_request = args.has("--single-request");
  options.loop_guard = !args.has("--no-loop-guard");
  options.audio.raw_sample_rate = static_cast<int>(args.get_int("--input-rate", 0, 1, 1000000));
  options.audio.raw_channels = static_cast<int>(args.get_int("--input-channels", 1, 1, 64));

  EngineOptions engine_options;
  engine_options.device = args.get_choice("--device", "auto", {"auto", "cpu", "cuda"});
  engine_options.dtype = args.get_choice("--dtype", "bf16", {"bf16", "fp16"});
  engine_options.weights = weights_option(args);
  engine_options.max_batch = static_cast<int>(args.get_int("--max-batch", 64, 1, 1024));
  const std::vector<int> devices = devices_option(args, engine_options);

  const std::optional<std::string> output_dir = args.get("--output-dir");
  std::vector<std::vector<std::string>> output_paths;
  if (output_dir) {
    output_paths = plan_output_paths(inputs, formats, *output_dir);
    prepare_output_dir(*output_dir);
  }

  using Clock = std::chrono::steady_clock;
  const auto load_start = Clock::now();
  // The first file is read (decoded, resampled) while the model loads, so that the GPU's first
  // segment does not wait for it; standard input is not (a model that fails to load must not
  // wait for its end).
  std::future<Audio> first_input;
  if (inputs.front() != "-")
    first_input =
        std::async(std::launch::async, [&] { return read_audio(inputs.front(), options.audio); });
  const ModelLocation model = locate_model(args.get("--model"));
  const ModelFolder folder{model.dir};
  const Tokenizer tokenizer = Tokenizer::from_file(folder.tokenizer_path());
  // Segments never exceed one 30 s window: size each KV slot for that prompt plus the new
  // tokens instead of the model's 8192 positions, so many more sequences fit in a batch.
  if (!options.single_request)
    engine_options.max_sequence = segment_sequence_positions(
        load_model_config(folder.config_path(), folder.generation_config_path()),
        options.max_new_tokens,
        static_cast<int>(tokenizer.encode_plain_text(options.prompt_text).size()));
  EngineDispatcher engines(create_engines(model.dir, engine_options, devices),
                           engine_options.max_batch);
  Transcriber transcriber(engines, tokenizer, options);

  ProgressOptions progress_options;
  progress_options.quiet = args.has("--quiet");
  // The total is unknown until files are decoded; progress counts segments' audio as they finish.
  AudioProgress progress(0.0, stderr, progress_options);
  std::vector<std::string> failed;
  const auto write_outputs = [&](size_t input, const InputResult& result) {
    if (!result.transcript) {
      std::fprintf(stderr, "glmasr transcribe: error: %s\n", result.error.c_str());
      failed.push_back(result.source);
      return;
    }
    try {
      for (size_t k = 0; k < formats.size(); ++k) {
        const std::string document = render_transcript(*result.transcript, formats[k]);
        if (output_dir)
          write_output_file(output_paths[input][k], document);
        else
          std::fwrite(document.data(), 1, document.size(), stdout);
      }
      std::fflush(stdout);
    } catch (const Error& e) {
      std::fprintf(stderr, "glmasr transcribe: error: %s\n", e.what());
      failed.push_back(result.source);
    }
  };
  const auto run_start = Clock::now();
  const std::vector<InputResult> results = transcriber.transcribe_inputs(
      inputs.size(), [&](size_t i) { return inputs[i]; },
      [&](size_t i) {
        return i == 0 && first_input.valid() ? first_input.get()
                                             : read_audio(inputs[i], options.audio);
      },
      progress.enabled() ? &progress : nullptr, write_outputs);
  progress.finish();
  engines.stop();  // every loop's last iteration is counted in its stats
  if (args.has("--timings")) {
    const double load = std::chrono::duration<double>(run_start - load_start).count();
    const double run = std::chrono::duration<double>(Clock::now() - run_start).count();
    double audio = 0;
    for (const auto& result : results)
      if (result.transcript) audio += result.transcript->duration;
    std::fprintf(stderr,
                 "glmasr transcribe: %s; model load %.3f s; %.1f s of audio in %.3f s "
                 "(%.0fx real time)\n",
                 engines.describe().c_str(), load, audio, run, run > 0 ? audio / run : 0.0);
    // Where the run's time went: the host's reading and planning (on this thread, beside the
    // GPU), and each engine loop's admissions (encoder batches + prefill), steps and idle time.
    std::fprintf(stderr, "glmasr transcribe: host: read %.3f s, plan %.3f s\n",
                 transcriber.read_seconds(), transcriber.plan_seconds());
    for (const EngineStatus& engine : engines.engines()) {
      const DecodeTimes& t = engine.stats.times;
      std::fprintf(
          stderr,
          "glmasr transcribe: %s: admit %.3f s (%llu batches, %llu sequences; on the "
          "device: log-mel upload %.3f s, encoder %.3f s, prefill %.3f s), steps %.3f s (%llu, "
          "mean batch %.1f), idle %.3f s\n",
          engine.device.c_str(), t.admit_seconds, static_cast<unsigned long long>(t.admit_calls),
          static_cast<unsigned long long>(t.admitted), t.admit_upload_seconds,
          t.admit_encoder_seconds, t.admit_prefill_seconds, t.step_seconds,
          static_cast<unsigned long long>(t.steps),
          t.steps ? double(t.step_rows) / double(t.steps) : 0.0, t.idle_seconds);
    }
  }
  if (!failed.empty()) {
    std::fprintf(stderr, "glmasr transcribe: %zu of %zu inputs failed:\n", failed.size(),
                 results.size());
    for (const auto& source : failed) std::fprintf(stderr, "  %s\n", source.c_str());
    return 1;
  }
  return 0;
}

}  // namespace glmasr::cli
