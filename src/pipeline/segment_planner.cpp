#include "pipeline/segment_planner.h"

#include <algorithm>
#include <thread>

#include "audio/features.h"
#include "core/error.h"
#include "model/audio_tokens.h"
#include "text/prompt.h"

namespace glmasr {

int default_mel_threads() {
  return static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u));
}

SegmentPlanner::SegmentPlanner(const ModelConfig& config, const Tokenizer& tokenizer,
                               PlanOptions options)
    : config_(config),
      tokenizer_(tokenizer),
      options_(std::move(options)),
      mel_(config.encoder.num_mel_bins,
           options_.mel_threads > 0 ? options_.mel_threads : default_mel_threads()) {
  GLMASR_CHECK(options_.mel_threads >= 0,
               "segment planner: expected mel threads >= 0 (0: ", default_mel_threads(), "), got ",
               options_.mel_threads);
}

std::vector<AudioSegment> SegmentPlanner::segments(const Audio& audio,
                                                   Transcript& transcript) const {
  const int64_t merge = config_.encoder.merge_factor;
  const int64_t n = static_cast<int64_t>(audio.samples.size());
  check_audio_yields_tokens(n, audio.source, merge);
  transcript = Transcript{};
  transcript.source = audio.source;
  transcript.duration = static_cast<double>(n) / kSampleRate;
  std::vector<AudioSegment> spans;
  if (options_.single_request) {
    if (n > kMaxWindows * kWindowSamples)
      fail_input(audio.source, ": audio is ", static_cast<double>(n) / kSampleRate,
                 " s; --single-request takes at most ", kMaxWindows * kWindowSeconds, " s (",
                 kMaxWindows,
                 " windows of 30 s); leave it out to transcribe any length in segments");
    spans.push_back({0, n, 0.0, transcript.duration, false});
  } else {
    spans = segment_audio(audio.samples, options_.segmenter);
  }
  for (const AudioSegment& span : spans) {
    TranscriptSegment segment;
    segment.id = static_cast<int>(transcript.segments.size());
    segment.start = span.start_seconds;
    segment.end = span.end_seconds;
    const int64_t length = std::min(span.end - span.begin, kWindowSamples);
    if (span.silent)
      segment.stop_reason = "silence";
    else if (audio_tokens_for_frames(valid_mel_frames(length), merge) <= 0)
      segment.stop_reason = "too_short";
    transcript.segments.push_back(std::move(segment));
  }
  return spans;
}

MelWindows SegmentPlanner::features(const Audio& audio, const AudioSegment& span) const {
  const std::vector<float> samples(audio.samples.begin() + span.begin,
                                   audio.samples.begin() + span.end);
  return mel_.compute(samples, kMaxWindows);
}

void SegmentPlanner::build_prompt(PlannedSegment& segment, std::string_view prompt_text,
                                  const std::string& source) const {
  segment.audio_rows =
      audio_rows_per_window(segment.mel.valid_frames, config_.encoder.merge_factor);
  int64_t audio_tokens = 0;
  for (int64_t rows : segment.audio_rows) audio_tokens += rows;
  segment.prompt = build_prompt_ids(tokenizer_, audio_tokens, prompt_text, config_.audio_token_id);
  // The prompt must leave room for at least one new token.
  if (static_cast<int64_t>(segment.prompt.size()) >= options_.max_sequence_positions)
    fail_input(source, ": the prompt of ", segment.prompt.size(),
               " tokens (audio and text) leaves no room in the ", options_.max_sequence_positions,
               " positions a sequence may use; use a shorter prompt text");
}

PlannedSegment SegmentPlanner::plan(const Audio& audio, const AudioSegment& span,
                                    std::string_view prompt_text) const {
  PlannedSegment segment;
  segment.mel = features(audio, span);
  build_prompt(segment, prompt_text, audio.source);
  return segment;
}

}  // namespace glmasr
