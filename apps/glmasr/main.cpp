// glmasr: speech to text with GLM-ASR-Nano-2512. Dispatches to one subcommand; every error
// reaches the user as one readable line and a non-zero exit code, never a crash.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "commands.h"
#include "core/error.h"

namespace {

struct Command {
  const char* name;
  int (*run)(const glmasr::cli::CommandArgs&);
  const char* summary;
};

const Command kCommands[] = {
    {"transcribe", glmasr::cli::run_transcribe, "audio files to text (txt, json, srt, vtt)"},
    {"mel", glmasr::cli::run_mel, "AUDIO -o OUT.npy: the encoder input [windows,128,3000]"},
    {"prompt", glmasr::cli::run_prompt, "--model DIR AUDIO: prompt ids as JSON"},
    {"tokenize", glmasr::cli::run_tokenize, "--tokenizer FILE [--text TEXT]: ids as JSON"},
    {"detokenize", glmasr::cli::run_detokenize, "--tokenizer FILE [--skip-special] ID...: text"},
    {"compare", glmasr::cli::run_compare, "engine versus a transformers reference dump"},
    {"bench", glmasr::cli::run_bench, "time the engine on random weights"},
    {"download", glmasr::cli::run_download, "fetch the model folder from the Hugging Face hub"},
    {"serve", glmasr::cli::run_serve, "HTTP transcription service"},
    {"info", glmasr::cli::run_info, "--model DIR: what a model folder holds"},
};

void print_usage() {
  std::fprintf(stderr, "usage: glmasr COMMAND [options]\n\ncommands:\n");
  for (const auto& command : kCommands)
    std::fprintf(stderr, "  %-11s %s\n", command.name, command.summary);
  std::fprintf(stderr, "\nRun 'glmasr COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    print_usage();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  const glmasr::cli::CommandArgs args(argv + 2, argv + argc);
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    try {
      return command.run(args);
    } catch (const glmasr::Error& e) {
      std::fprintf(stderr, "glmasr %s: error: %s\n", command.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "glmasr %s: internal error: %s\n", command.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "glmasr: unknown command '%s'\n\n", name.c_str());
  print_usage();
  return 2;
}
