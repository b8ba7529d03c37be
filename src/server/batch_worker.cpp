#include "server/batch_worker.h"

#include <exception>

#include "server/http_message.h"

namespace glmasr::server {

BatchWorker::BatchWorker(BatchTranscribeFn transcribe, size_t max_queued)
    : transcribe_(std::move(transcribe)), max_queued_(max_queued), thread_([this] { run(); }) {}

BatchWorker::~BatchWorker() {
  stop();
}

void BatchWorker::submit(TranscriptionJob job, TranscriptionDone done) {
  std::lock_guard lock(mutex_);
  if (stopping_) throw HttpError(503, "the server is shutting down");
  if (queue_.size() >= max_queued_)
    throw HttpError(
        503, cat("too many requests waiting for the model (", queue_.size(), "): try again later"));
  queue_.push_back(Entry{std::move(job), std::move(done)});
  wake_.notify_one();
}

void BatchWorker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

LoadStats BatchWorker::load() const {
  std::lock_guard lock(mutex_);
  return {.running = static_cast<int>(running_),
          .waiting = static_cast<int>(queue_.size()),
          .kv_cache_usage = 0};
}

std::vector<size_t> BatchWorker::batch_sizes() const {
  std::lock_guard lock(mutex_);
  return batch_sizes_;
}

void BatchWorker::run() {
  for (;;) {
    std::vector<Entry> entries;
    {
      std::unique_lock lock(mutex_);
      running_ = 0;
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      // Everything waiting and still wanted goes into this batch.
      for (Entry& entry : queue_) {
        if (*entry.job.cancelled) {
          entry.done({.result = {}, .failure = nullptr, .cancelled = true});
          continue;
        }
        entries.push_back(std::move(entry));
      }
      queue_.clear();
      running_ = entries.size();
      if (!entries.empty()) batch_sizes_.push_back(entries.size());
    }
    process(entries);
  }
}

void BatchWorker::process(std::vector<Entry>& entries) {
  for (Entry& entry : entries)
    if (entry.job.events.started) entry.job.events.started();
  // The prompt is part of every sequence, so inputs are grouped by it (first-come order kept).
  std::vector<bool> taken(entries.size(), false);
  for (size_t first = 0; first < entries.size(); ++first) {
    if (taken[first]) continue;
    std::vector<size_t> group;
    std::vector<Audio> inputs;
    for (size_t i = first; i < entries.size(); ++i) {
      if (taken[i] || entries[i].job.prompt != entries[first].job.prompt) continue;
      group.push_back(i);
      inputs.push_back(std::move(entries[i].job.audio));
      taken[i] = true;
    }
    std::vector<InputResult> results;
    std::exception_ptr failure;
    try {
      results = transcribe_(inputs, entries[first].job.prompt);
      if (results.size() != inputs.size())
        fail("the transcriber returned ", results.size(), " results for ", inputs.size(),
             " inputs");
    } catch (...) {
      failure = std::current_exception();
    }
    for (size_t k = 0; k < group.size(); ++k) {
      TranscriptionOutcome outcome{.result = {}, .failure = failure, .cancelled = false};
      if (!failure) outcome.result = std::move(results[k]);
      entries[group[k]].done(std::move(outcome));
    }
  }
}

}  // namespace glmasr::server
