// Rendering a Transcript in the output formats of `glmasr transcribe`: txt, json, verbose_json,
// srt and vtt. Every renderer returns the whole document for one input as a string.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "pipeline/transcript.h"

namespace glmasr {

enum class OutputFormat { kTxt, kJson, kVerboseJson, kSrt, kVtt };

// "txt", "json", "verbose_json", "srt", "vtt" (case-sensitive). Throws glmasr::Error naming the
// text and listing the accepted names.
OutputFormat parse_output_format(std::string_view name);
std::string format_name(OutputFormat format);
// File extension for `-o DIR` outputs: "txt", "json", "json" (verbose_json), "srt", "vtt".
std::string format_extension(OutputFormat format);

struct SubtitleOptions {
  // A cue longer than this (in characters, i.e. UTF-8 code points) is split into several cues
  // whose times are shared out in proportion to their length. 0 keeps one cue per segment.
  int max_cue_chars = 84;
  // Lines within a cue are wrapped at word boundaries to at most this many characters.
  int max_line_chars = 42;
  // A cue holds at most this many wrapped lines; more text starts the next cue. 0: no limit.
  int max_lines = 2;
};

// One timed subtitle cue; lines are already wrapped.
struct SubtitleCue {
  double start = 0;
  double end = 0;
  std::vector<std::string> lines;
};

// The cues srt/vtt show: segments with empty text are left out, long ones are split.
std::vector<SubtitleCue> make_cues(const Transcript& transcript,
                                   const SubtitleOptions& options = {});

// "01:02:03,456" (srt) or "01:02:03.456" (vtt); milliseconds are rounded, negatives clamp to 0.
std::string format_timestamp(double seconds, char millis_separator);

// One document per input. txt: the text and a newline. json: one line
// {"file","text","tokens","duration"}. verbose_json: one line with "segments" as well.
std::string render_transcript(const Transcript& transcript, OutputFormat format,
                              const SubtitleOptions& options = {});

}  // namespace glmasr
