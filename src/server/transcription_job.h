// What the server hands the transcription backend (the batching worker today, the engine loop
// later) and what comes back. The backend is asynchronous: it returns at once and calls `done`
// exactly once, from any thread, when the job is finished, failed or dropped after cancellation.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "audio/audio_file.h"
#include "pipeline/transcriber.h"

namespace glmasr::server {

// What the backend reports about a job as it runs; any of these may be left unset or uncalled.
struct JobEvents {
  std::function<void()> started;               // it left the queue (request_queue_time_seconds)
  std::function<void()> first_token;           // its first token was decoded (time_to_first_token)
  std::function<void(int64_t)> prompt_tokens;  // tokens prefilled for it (prompt_tokens_total)
};

struct TranscriptionJob {
  Audio audio;         // 16 kHz mono
  std::string prompt;  // empty: the pipeline's default instruction
  // Set when the client went away or the deadline passed: the backend may drop the job (and
  // then calls done with a cancelled outcome) instead of finishing it.
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  JobEvents events;
  // Streaming (the engine loop's thread): the text as it is decoded, in whole UTF-8 characters
  // and segment order; the deltas joined equal the transcript's text. Unset: not streamed.
  std::function<void(std::string_view delta)> on_text_delta;
  // Lower priority than other jobs in the engine loop (realtime interim hypotheses).
  bool background = false;
};

struct TranscriptionOutcome {
  InputResult result;  // result.transcript absent: failed, result.error says why (500)
  // Set when the backend threw: glmasr::InputError -> 400, glmasr::DeviceError -> the service
  // stops being ready and exits non-zero, anything else -> 500.
  std::exception_ptr failure;
  bool cancelled = false;  // dropped because job.cancelled was set; nobody waits for an answer
};

using TranscriptionDone = std::function<void(TranscriptionOutcome outcome)>;
using TranscribeFn = std::function<void(TranscriptionJob job, TranscriptionDone done)>;

}  // namespace glmasr::server
