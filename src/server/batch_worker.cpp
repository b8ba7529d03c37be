#include "server/batch_worker.h"

#include <exception>

#include "server/http_message.h"

namespace glmasr::server {

BatchWorker::BatchWorker(BatchTranscribeFn transcribe, size_t max_queued)
    : transcribe_(std::move(transcribe)), max_queued_(max_queued), thread_([this] { run(); }) {}

BatchWorker::~BatchWorker() {
  stop();
}

std::future<InputResult> BatchWorker::submit(Audio audio, std::string prompt) {
  std::lock_guard lock(mutex_);
  if (stopping_) throw HttpError(503, "the server is shutting down");
  if (queue_.size() >= max_queued_)
    throw HttpError(
        503, cat("too many requests waiting for the model (", queue_.size(), "): try again later"));
  queue_.push_back(Job{std::move(audio), std::move(prompt), {}});
  std::future<InputResult> future = queue_.back().result.get_future();
  wake_.notify_one();
  return future;
}

void BatchWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

std::vector<size_t> BatchWorker::batch_sizes() const {
  std::lock_guard lock(mutex_);
  return batch_sizes_;
}

void BatchWorker::run() {
  for (;;) {
    std::vector<Job> jobs;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      // Everything waiting goes into this batch.
      for (Job& job : queue_) jobs.push_back(std::move(job));
      queue_.clear();
      batch_sizes_.push_back(jobs.size());
    }
    process(jobs);
  }
}

void BatchWorker::process(std::vector<Job>& jobs) {
  // The prompt is part of every sequence, so inputs are grouped by it (first-come order kept).
  std::vector<bool> done(jobs.size(), false);
  for (size_t first = 0; first < jobs.size(); ++first) {
    if (done[first]) continue;
    std::vector<size_t> group;
    std::vector<Audio> inputs;
    for (size_t i = first; i < jobs.size(); ++i) {
      if (done[i] || jobs[i].prompt != jobs[first].prompt) continue;
      group.push_back(i);
      inputs.push_back(std::move(jobs[i].audio));
      done[i] = true;
    }
    std::vector<InputResult> results;
    std::string failure;
    try {
      results = transcribe_(inputs, jobs[first].prompt);
      if (results.size() != inputs.size())
        failure = cat("the transcriber returned ", results.size(), " results for ", inputs.size(),
                      " inputs");
    } catch (const std::exception& e) {
      failure = e.what();
    }
    for (size_t k = 0; k < group.size(); ++k) {
      InputResult result;
      if (failure.empty()) {
        result = std::move(results[k]);
      } else {
        result.source = inputs[k].source;
        result.error = failure;
      }
      jobs[group[k]].result.set_value(std::move(result));
    }
  }
}

}  // namespace glmasr::server
