// The glmasr subcommands. Each lives in its own cmd_*.cpp, takes the arguments after its name
// and returns the process exit code (0 success, 1 failure of some input, 2 usage error).
#pragma once

#include <string>
#include <vector>

namespace glmasr::cli {

using CommandArgs = std::vector<std::string>;

int run_transcribe(const CommandArgs& args);  // cmd_transcribe.cpp
int run_mel(const CommandArgs& args);         // cmd_mel.cpp
int run_prompt(const CommandArgs& args);      // cmd_prompt.cpp
int run_tokenize(const CommandArgs& args);    // cmd_tokenize.cpp
int run_detokenize(const CommandArgs& args);  // cmd_tokenize.cpp
int run_compare(const CommandArgs& args);     // cmd_compare.cpp: engine vs reference dump
int run_bench(const CommandArgs& args);       // cmd_bench.cpp
int run_download(const CommandArgs& args);    // cmd_download.cpp
int run_serve(const CommandArgs& args);       // cmd_serve.cpp
int run_stream(const CommandArgs& args);      // cmd_stream.cpp: live audio, VAD turns
int run_info(const CommandArgs& args);        // cmd_info.cpp: model folder summary

}  // namespace glmasr::cli
