// What the model is asked for an input: the audio cut into segments (at most 30 s, cut in
// pauses; or one reference-style request of up to 21 windows), and for each segment its log-mel
// windows, their kept audio rows and its prompt ids. The transcriber and `glmasr prompt` both
// plan with this, so what `prompt` prints is what `transcribe` sends.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "model/config.h"
#include "pipeline/segmenter.h"
#include "pipeline/transcript.h"
#include "text/tokenizer.h"

namespace glmasr {

struct PlanOptions {
  bool single_request = false;  // the reference's one prompt per input, up to 630 s
  SegmenterOptions segmenter;
  // Positions a sequence may occupy (prompt + new tokens); a longer prompt is an InputError.
  int64_t max_sequence_positions = 8192;
  // Threads of the log-mel of one segment (its frames are split among them: the features of a
  // short request come sooner); 0 = min(4, cores).
  int mel_threads = 0;
};

// What mel_threads = 0 means: min(4, hardware threads).
int default_mel_threads();

// One segment ready for the engine.
struct PlannedSegment {
  MelWindows mel;                   // [W, num_mel_bins, 3000]
  std::vector<int64_t> audio_rows;  // kept projector rows per window
  std::vector<int32_t> prompt;      // with sum(audio_rows) placeholders
};

class SegmentPlanner {
 public:
  SegmentPlanner(const ModelConfig& config, const Tokenizer& tokenizer, PlanOptions options);

  // The input's segments as transcript entries (id, start, end; stop_reason "silence" or
  // "too_short" for those the model is not asked about) and their sample spans. Throws
  // InputError for audio too short to give an audio token, or too long for single_request.
  std::vector<AudioSegment> segments(const Audio& audio, Transcript& transcript) const;

  // Features and prompt of one segment (any thread: the extractor and tokenizer are shared
  // read-only).
  PlannedSegment plan(const Audio& audio, const AudioSegment& span,
                      std::string_view prompt_text) const;
  // The prompt alone, for a segment whose features are computed (features -> rows -> prompt).
  void build_prompt(PlannedSegment& segment, std::string_view prompt_text,
                    const std::string& source) const;
  // Features alone.
  MelWindows features(const Audio& audio, const AudioSegment& span) const;
  int mel_threads() const { return mel_.num_threads(); }

 private:
  const ModelConfig& config_;
  const Tokenizer& tokenizer_;
  PlanOptions options_;
  LogMelExtractor mel_;
};

}  // namespace glmasr
