// What transcribing one input produces: the joined text and the timed segments it came from.
// The output formats (subtitles.h) render these; the transcribe pipeline fills them.
#pragma once

#include <string>
#include <vector>

namespace glmasr {

struct TranscriptSegment {
  int id = 0;
  double start = 0;  // seconds from the start of the input
  double end = 0;
  std::string text;
  std::vector<int> tokens;  // generated ids, without the stop token
  double avg_logprob = 0;   // mean log-probability of the generated tokens
  bool loop_detected = false;
  std::string stop_reason;  // "eos", "max_tokens", "loop", "silence", ...
};

struct Transcript {
  std::string source;   // the input path, or "-" for standard input
  double duration = 0;  // seconds of audio
  std::string text;     // the segment texts joined
  std::vector<TranscriptSegment> segments;
};

}  // namespace glmasr
