// glmasr prompt: the token ids the model receives for an audio file, as the transformers
// processor builds them (for checking against the reference and for debugging prompts).
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "args.h"
#include "audio/audio_file.h"
#include "audio/mel.h"
#include "commands.h"
#include "core/error.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "pipeline/segment_planner.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

namespace glmasr::cli {

namespace {

constexpr const char* kPromptUsage =
    "usage: glmasr prompt --model DIR [--prompt TEXT] [--single-request] [--input-rate HZ] "
    "AUDIO...\n"
    "Prints the prompt ids `glmasr transcribe` sends for each AUDIO file: a JSON array per\n"
    "segment the model is asked about, one line each (a file of up to 30 s is one segment;\n"
    "--single-request gives the reference processor's one prompt per file, up to 630 s). The\n"
    "prompt text defaults to \"Please transcribe this audio into text\". AUDIO '-' reads\n"
    "standard input: a WAV, FLAC, Ogg or MP3 stream, or raw 16-bit PCM at --input-rate HZ.\n";

}  // namespace

int run_prompt(const CommandArgs& args) {
  const Args parsed(args, {{"--model", true},
                           {"--prompt", true},
                           {"--single-request", false},
                           {"--input-rate", true},
                           {"--help", false, "-h"}});
  if (parsed.has("--help")) {
    std::fputs(kPromptUsage, stdout);
    return 0;
  }
  if (!parsed.has("--model") || parsed.positional().empty()) {
    std::fputs(kPromptUsage, stderr);
    return 2;
  }
  check_stdin_options(parsed);
  const ModelFolder folder{*parsed.get("--model")};
  const ModelConfig config =
      load_model_config(folder.config_path(), folder.generation_config_path());
  const Tokenizer tokenizer = Tokenizer::from_file(folder.tokenizer_path());
  const SegmentPlanner planner(config, tokenizer,
                               {.single_request = parsed.has("--single-request"),
                                .segmenter = {},
                                .max_sequence_positions = config.decoder.max_positions});
  const std::string prompt_text = parsed.get_or("--prompt", std::string(kDefaultPromptText));
  AudioReadOptions read_options;
  read_options.raw_sample_rate = static_cast<int>(parsed.get_int("--input-rate", 0, 1, 1000000));

  // Each file on its own: one bad file is reported and the others still get their prompt.
  int exit_code = 0;
  for (const std::string& path : parsed.positional()) {
    try {
      const Audio audio = read_audio(path, read_options);
      Transcript transcript;
      const std::vector<AudioSegment> spans = planner.segments(audio, transcript);
      for (size_t i = 0; i < spans.size(); ++i) {
        if (!transcript.segments[i].stop_reason.empty()) continue;  // silence: not asked
        const nlohmann::json ids = planner.plan(audio, spans[i], prompt_text).prompt;
        std::printf("%s\n", ids.dump().c_str());
      }
      std::fflush(stdout);
    } catch (const Error& e) {
      // Name the file unless the message already starts with it (audio errors do).
      const std::string message = e.what();
      const bool named = message.rfind(path, 0) == 0;
      std::fprintf(stderr, "glmasr prompt: error: %s%s%s\n", named ? "" : path.c_str(),
                   named ? "" : ": ", message.c_str());
      exit_code = 1;
    }
  }
  return exit_code;
}

}  // namespace glmasr::cli
