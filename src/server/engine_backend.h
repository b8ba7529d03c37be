// The server's transcription backend on the engine loop. A job is planned (segmentation,
// log-mel, prompt) on one of a few planner threads and its segments join the loop's running
// batch at the next step boundary: a newcomer never waits for the requests before it to
// finish, and every request's segments share the GPU's batch with everybody else's. Its
// `done` runs on the loop's thread when its last segment is decoded.
#pragma once

#include <atomic>
#include <cstddef>

#include "pipeline/transcriber.h"
#include "runtime/sequence_scheduler.h"
#include "server/service_state.h"
#include "server/transcription_job.h"
#include "server/work_pool.h"

namespace glmasr::server {

class EngineBackend {
 public:
  // `max_pending` bounds the jobs accepted and not yet answered; more are refused with 503.
  EngineBackend(SequenceScheduler& scheduler, Transcriber& transcriber, int planner_threads,
                size_t max_pending);
  ~EngineBackend();  // stop()
  EngineBackend(const EngineBackend&) = delete;
  EngineBackend& operator=(const EngineBackend&) = delete;

  // Returns at once. Throws HttpError 503 when too many jobs are pending or it has stopped.
  void submit(TranscriptionJob job, TranscriptionDone done);
  // Plans what was submitted (the loop then decodes it). Idempotent.
  void stop();

  // Requests in the loop's batch, requests waiting (planning or queued), KV usage (/metrics).
  LoadStats load() const;

 private:
  SequenceScheduler& scheduler_;
  Transcriber& transcriber_;
  WorkPool planners_;
  size_t max_pending_;
  std::atomic<size_t> pending_{0};
  std::atomic<bool> stopping_{false};
};

// How one finished input becomes the server's outcome: a client mistake carries an InputError
// (400), a device fault of the loop a DeviceError (the service stops being ready), anything
// else stays a failed result (500).
TranscriptionOutcome outcome_of(InputResult result, const std::string& loop_fault, bool cancelled);

}  // namespace glmasr::server
