// The one thread that owns the model until the engine loop replaces it. The routes submit
// decoded audio and return; the worker takes everything queued at that moment and transcribes
// it in one call, so requests that arrive together are decoded together (the CUDA engine
// batches their segments), and answers each job through its `done`.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "server/service_state.h"
#include "server/transcription_job.h"

namespace glmasr::server {

// Transcribes inputs that share one prompt; returns one result per input, in order.
using BatchTranscribeFn = std::function<std::vector<InputResult>(const std::vector<Audio>& inputs,
                                                                 const std::string& prompt)>;

class BatchWorker {
 public:
  // `max_queued` bounds the requests waiting for the model; more are refused (503).
  BatchWorker(BatchTranscribeFn transcribe, size_t max_queued);
  ~BatchWorker();  // stop()
  BatchWorker(const BatchWorker&) = delete;
  BatchWorker& operator=(const BatchWorker&) = delete;

  // Queues one job; `done` runs on the worker thread. Throws HttpError 503 when the queue is
  // full or the worker has stopped. A job cancelled before the worker takes it is dropped
  // (done gets a cancelled outcome); a throwing model fails every job of its batch (the
  // exception travels in the outcome, so a DeviceError stays a DeviceError).
  void submit(TranscriptionJob job, TranscriptionDone done);

  // Finishes what is queued, then ends the thread. Idempotent.
  void stop();

  // Requests queued and in the batch being transcribed (for /metrics).
  LoadStats load() const;
  // Sizes of the batches handed to the transcribe function so far (for tests and logs).
  std::vector<size_t> batch_sizes() const;

 private:
  struct Entry {
    TranscriptionJob job;
    TranscriptionDone done;
  };

  void run();
  void process(std::vector<Entry>& entries);

  BatchTranscribeFn transcribe_;
  size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Entry> queue_;
  size_t running_ = 0;
  std::vector<size_t> batch_sizes_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace glmasr::server
