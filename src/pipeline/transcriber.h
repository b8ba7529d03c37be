// The transcription pipeline shared by the CLI and the server: audio files -> 16 kHz samples ->
// segments of at most 30 s cut in pauses (or one reference-style request of up to 21 windows) ->
// log-mel -> prompts -> one batch of generation requests for all inputs -> text, per input.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "core/progress.h"
#include "engine/engine.h"
#include "pipeline/loop_guard.h"
#include "pipeline/segmenter.h"
#include "pipeline/transcript.h"
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
  int segments_per_batch = 256;  // generation requests handed to the engine at once
};

struct InputResult {
  std::string source;
  std::optional<Transcript> transcript;  // absent when the input failed
  std::string error;                     // why it failed
};

// Called once per input, in input order, as soon as that input is finished (every segment
// decoded, or it failed); `input` indexes the inputs given. Lets the CLI write each file's
// output without waiting for the whole list. It runs on the calling thread; a throw propagates
// out of transcribe_files / transcribe_audio.
using InputDoneCallback = std::function<void(size_t input, const InputResult& result)>;

class Transcriber {
 public:
  Transcriber(Engine& engine, const Tokenizer& tokenizer, TranscribeOptions options);

  // Every input is attempted; one that fails (unreadable, too short, too long for
  // single_request) gets an error and the others still finish. Results in input order.
  std::vector<InputResult> transcribe_files(const std::vector<std::string>& paths,
                                            AudioProgress* progress = nullptr,
                                            const InputDoneCallback& on_input_done = {});

  // Same, for audio already decoded to 16 kHz mono (the server, tests).
  std::vector<InputResult> transcribe_audio(const std::vector<Audio>& inputs,
                                            AudioProgress* progress = nullptr,
                                            const InputDoneCallback& on_input_done = {});

 private:
  struct PendingSegment;

  std::vector<InputResult> transcribe_each(size_t count,
                                           const std::function<std::string(size_t)>& source_of,
                                           const std::function<Audio(size_t)>& audio_of,
                                           AudioProgress* progress,
                                           const InputDoneCallback& on_input_done);

  void plan_input(size_t input, const Audio& audio, std::vector<PendingSegment>& pending,
                  std::vector<InputResult>& results);
  void run_batch(std::vector<PendingSegment>& batch, std::vector<InputResult>& results,
                 AudioProgress* progress);

  Engine& engine_;
  const Tokenizer& tokenizer_;
  TranscribeOptions options_;
  LogMelExtractor mel_;
};

// Joins segment texts (a single one is returned verbatim): a space between two pieces unless either
// side already has whitespace there or the join is between CJK characters, which are written
// without spaces.
std::string join_segment_texts(const std::vector<std::string>& texts);

}  // namespace glmasr
