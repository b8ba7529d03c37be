// Where `glmasr transcribe -o DIR` writes, settled before the model loads: the folder exists
// (or is created) and takes files, and no two outputs of one run share a path, so nothing a
// run writes is overwritten by the same run and a bad -o costs no transcription work.
#pragma once

#include <string>
#include <vector>

#include "pipeline/subtitles.h"

namespace glmasr::cli {

// Creates DIR when missing and checks that a file can be created in it. Throws glmasr::Error
// naming DIR and the system's reason ("Permission denied", "Not a directory").
void prepare_output_dir(const std::string& dir);

// paths[input][k]: DIR/<input file name>.<extension of formats[k]> ("stdin" for "-"). Throws
// UsageError naming both inputs when two outputs would share a path.
std::vector<std::vector<std::string>> plan_output_paths(const std::vector<std::string>& inputs,
                                                        const std::vector<OutputFormat>& formats,
                                                        const std::string& dir);

// Writes text to path; throws naming the path and the system's reason.
void write_output_file(const std::string& path, const std::string& text);

}  // namespace glmasr::cli
