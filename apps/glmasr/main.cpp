// glmasr: speech to text with GLM-ASR-Nano-2512. Dispatches to one subcommand; every error
// reaches the user as one readable line and a non-zero exit code, never a crash.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/allocator_settings.h"
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
    {"stream", glmasr::cli::run_stream, "live PCM (stdin) or --realtime FILE: a line per turn"},
    {"info", glmasr::cli::run_info, "--model DIR: what a model folder holds"},
};

// Asked for (--help) it goes to stdout so that `glmasr --help | less` works; after a usage
// error it goes to stderr.
void print_usage(std::FILE* out) {
  std::fprintf(out, "usage: glmasr COMMAND [options]\n\ncommands:\n");
  for (const auto& command : kCommands)
    std::fprintf(out, "  %-11s %s\n", command.name, command.summary);
  std::fprintf(out, "  %-11s %s\n", "version", "the glmasr version (also --version)");
  std::fprintf(out, "\nRun 'glmasr COMMAND --help' for a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
  glmasr::keep_large_blocks_in_the_heap();  // see core/allocator_settings.h
  if (argc < 2) {
    print_usage(stderr);
    return 2;
  }
  const std::string name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    print_usage(stdout);
    return 0;
  }
  if (name == "--version" || name == "version") {
    std::printf("glmasr %s\n", GLMASR_VERSION);  // CMake's project(VERSION)
    return 0;
  }
  const glmasr::cli::CommandArgs args(argv + 2, argv + argc);
  for (const auto& command : kCommands) {
    if (name != command.name) continue;
    try {
      return command.run(args);
    } catch (const glmasr::cli::UsageError& e) {
      std::fprintf(stderr, "glmasr %s: error: %s (see 'glmasr %s --help')\n", command.name,
                   e.what(), command.name);
      return 2;
    } catch (const glmasr::Error& e) {
      std::fprintf(stderr, "glmasr %s: error: %s\n", command.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "glmasr %s: internal error: %s\n", command.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "glmasr: unknown command '%s'\n\n", name.c_str());
  print_usage(stderr);
  return 2;
}
