// The one thread that owns the model. Connection threads submit decoded audio and wait; the
// worker takes everything queued at that moment and transcribes it in one call, so requests
// that arrive together are decoded together (the CUDA engine batches their segments).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audio/audio_file.h"
#include "pipeline/transcriber.h"

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

  // Queues one input. Throws HttpError 503 when the queue is full or the worker has stopped.
  // The future never holds an exception: failures come back as InputResult::error.
  std::future<InputResult> submit(Audio audio, std::string prompt);

  // Finishes what is queued, then ends the thread. Idempotent.
  void stop();

  // Sizes of the batches handed to the transcribe function so far (for tests and logs).
  std::vector<size_t> batch_sizes() const;

 private:
  struct Job {
    Audio audio;
    std::string prompt;
    std::promise<InputResult> result;
  };

  void run();
  void process(std::vector<Job>& jobs);

  BatchTranscribeFn transcribe_;
  size_t max_queued_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queue_;
  std::vector<size_t> batch_sizes_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace glmasr::server
