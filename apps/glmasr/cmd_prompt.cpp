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
#include "text/prompt.h"
#include "text/tokenizer.h"

namespace glmasr::cli {

namespace {

constexpr const char* kPromptUsage =
    "usage: glmasr prompt --model DIR [--prompt TEXT] [--input-rate HZ] AUDIO...\n"
    "Prints the prompt ids for each AUDIO file as a JSON array, one line per file. The prompt\n"
    "text defaults to \"Please transcribe this audio into text\". AUDIO '-' reads standard\n"
    "input: a WAV, FLAC, Ogg or MP3 stream, or raw 16-bit PCM at --input-rate HZ.\n";

std::vector<int32_t> prompt_ids_for_file(const std::string& path, const Tokenizer& tokenizer,
                                         const PromptModelSettings& settings,
                                         const std::string& prompt_text,
                                         const AudioReadOptions& read_options) {
  const Audio audio = read_audio(path, read_options);
  const auto samples = static_cast<int64_t>(audio.samples.size());
  check_audio_yields_tokens(samples, path, settings.merge_factor);
  const int64_t audio_tokens = audio_token_count(samples, settings.merge_factor);
  return build_prompt_ids(tokenizer, audio_tokens, prompt_text, settings.audio_token_id);
}

}  // namespace

int run_prompt(const CommandArgs& args) {
  const Args parsed(
      args,
      {{"--model", true}, {"--prompt", true}, {"--input-rate", true}, {"--help", false, "-h"}});
  if (parsed.has("--help")) {
    std::fputs(kPromptUsage, stdout);
    return 0;
  }
  if (!parsed.has("--model") || parsed.positional().empty()) {
    std::fputs(kPromptUsage, stderr);
    return 2;
  }
  check_stdin_options(parsed);
  const std::string model_dir = *parsed.get("--model");
  const PromptModelSettings settings = read_prompt_model_settings(model_dir);
  const Tokenizer tokenizer = Tokenizer::from_file(model_dir + "/tokenizer.json");
  const std::string prompt_text = parsed.get_or("--prompt", std::string(kDefaultPromptText));
  AudioReadOptions read_options;
  read_options.raw_sample_rate = static_cast<int>(parsed.get_int("--input-rate", 0, 1, 1000000));

  // Each file on its own: one bad file is reported and the others still get their prompt.
  int exit_code = 0;
  for (const std::string& path : parsed.positional()) {
    try {
      const nlohmann::json ids =
          prompt_ids_for_file(path, tokenizer, settings, prompt_text, read_options);
      std::printf("%s\n", ids.dump().c_str());
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
