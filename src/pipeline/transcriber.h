// The transcription pipeline shared by the CLI, the server and the library: audio -> 16 kHz
// samples -> segments of at most 30 s cut in pauses (or one reference-style request of up to 21
// windows) -> log-mel -> prompts -> sequences submitted to the engine loop as soon as each is
// planned -> text, per input. Planning runs on the submitting thread while the loop decodes
// what was submitted before, so the GPU starts on the first segment of a file while the rest of
// the file is still being prepared.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "core/progress.h"
#include "pipeline/loop_guard.h"
#include "pipeline/segment_planner.h"
#include "pipeline/segmenter.h"
#include "pipeline/text_joiner.h"
#include "pipeline/transcript.h"
#include "runtime/sequence_scheduler.h"
#include "text/tokenizer.h"

namespace glmasr {

struct TranscribeOptions {
  std::string prompt_text = "Please transcribe this audio into text";
  int max_new_tokens = 500;     // per segment (per request with single_request)
  bool single_request = false;  // the reference's one prompt per input, up to 630 s
  bool loop_guard = true;
  LoopGuardOptions loop_guard_options;
  SegmenterOptions segmenter;
  AudioReadOptions audio;
  // Inputs of a transcribe_files/transcribe_audio call in flight at once (planned and not yet
  // decoded): bounds the host memory of long lists while keeping the engine loop fed.
  int inputs_in_flight = 128;
  int mel_threads = 0;  // PlanOptions::mel_threads
};

struct InputResult {
  std::string source;
  std::optional<Transcript> transcript;  // absent when the input failed
  std::string error;                     // why it failed
  bool client_error = false;             // the input itself was bad (not the engine)
};

// Called once per input, in input order, as soon as it and every input before it are decoded (or
// failed), with the input's index. It may run on the engine loop's thread: keep it short (write
// the outputs, print a line).
using InputDoneFn = std::function<void(size_t input, const InputResult& result)>;

// What one submitted input may override and watch.
struct InputOptions {
  std::optional<std::string> prompt_text;  // else TranscribeOptions::prompt_text
  // Set by the caller to drop the input's remaining work within one decoding step.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // Progress hooks (metrics), each called at most once; on the loop's thread except
  // on_prompt_tokens (the submitting thread, once the input is planned).
  std::function<void()> on_started;                      // the input's first segment was admitted
  std::function<void()> on_first_token;                  // its first token was decoded
  std::function<void(int64_t tokens)> on_prompt_tokens;  // the prompt tokens of all segments
  // Streaming, on the loop's thread: the input's text as it is decoded, in whole UTF-8
  // characters and in segment order (the deltas joined equal the final transcript text), and
  // each segment once it is final, in order. Not called after the input failed.
  std::function<void(std::string_view delta)> on_text_delta;
  std::function<void(const TranscriptSegment& segment)> on_segment;
  // Lower priority in the engine loop (see Sequence::background).
  bool background = false;
};

class Transcriber {
 public:
  // The scheduler and tokenizer must outlive the transcriber. Thread-safe: several threads may
  // transcribe at once (the server's planners); they share the engines' batches.
  Transcriber(SequenceScheduler& scheduler, const Tokenizer& tokenizer, TranscribeOptions options);
  // The same with a planner (its log-mel threads and FFT plan) shared by transcribers whose
  // options differ only in what a call chooses (prompt text, max_new_tokens, the loop guard):
  // the C API makes one per model and a transcriber per call. Make it with plan_options().
  Transcriber(SequenceScheduler& scheduler, const Tokenizer& tokenizer, TranscribeOptions options,
              std::shared_ptr<const SegmentPlanner> planner);
  static PlanOptions plan_options(const TranscribeOptions& options,
                                  const SequenceScheduler& scheduler);

  // Plans `audio` on the calling thread and submits its segments to the loop; `done` is called
  // exactly once, on the loop's thread (or on this one when planning fails), with the result.
  void submit(Audio audio, const InputOptions& input, std::function<void(InputResult)> done,
              AudioProgress* progress = nullptr);

  // Every input is attempted; one that fails (unreadable, too short, too long for
  // single_request) gets an error and the others still finish. Results in input order.
  std::vector<InputResult> transcribe_files(const std::vector<std::string>& paths,
                                            AudioProgress* progress = nullptr,
                                            const InputDoneFn& on_input_done = {});

  // Same, for audio already decoded to 16 kHz mono (tests, tools).
  std::vector<InputResult> transcribe_audio(const std::vector<Audio>& inputs,
                                            AudioProgress* progress = nullptr,
                                            const InputDoneFn& on_input_done = {});

  // Same, for inputs that audio_of(i) returns (it may throw glmasr::Error: that input fails).
  // audio_of is called once per input, on reading threads that run one input ahead of the
  // planning (inputs i and i + 1 may be read at once); source_of(i) names input i in errors. The
  // CLI hands in a first file that was read while the model loaded.
  std::vector<InputResult> transcribe_inputs(size_t count,
                                             const std::function<std::string(size_t)>& source_of,
                                             const std::function<Audio(size_t)>& audio_of,
                                             AudioProgress* progress = nullptr,
                                             const InputDoneFn& on_input_done = {});

  const TranscribeOptions& options() const { return options_; }

  // Host time so far, summed over the threads that spent it (glmasr transcribe --timings):
  // reading and decoding files, and planning (segments, log-mel, prompts).
  double read_seconds() const { return read_seconds_.load(); }
  double plan_seconds() const { return plan_seconds_.load(); }

 private:
  struct InputJob;
  struct SegmentJob;

  void submit_segment(const std::shared_ptr<InputJob>& input, std::shared_ptr<SegmentJob> segment,
                      const InputOptions& options);

  SequenceScheduler& scheduler_;
  const Tokenizer& tokenizer_;
  TranscribeOptions options_;
  std::shared_ptr<const SegmentPlanner> planner_;
  std::atomic<double> read_seconds_{0}, plan_seconds_{0};
};

}  // namespace glmasr
