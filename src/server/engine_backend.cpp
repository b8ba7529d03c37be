#include "server/engine_backend.h"

#include <exception>
#include <memory>
#include <utility>

#include "server/http_message.h"

namespace glmasr::server {

TranscriptionOutcome outcome_of(InputResult result, const std::string& loop_fault, bool cancelled) {
  TranscriptionOutcome outcome;
  if (!result.transcript) {
    if (cancelled) {
      outcome.cancelled = true;
    } else if (!loop_fault.empty()) {
      outcome.failure = std::make_exception_ptr(DeviceError(loop_fault));
    } else if (result.client_error) {
      outcome.failure = std::make_exception_ptr(InputError(result.error));
    }
  }
  outcome.result = std::move(result);
  return outcome;
}

EngineBackend::EngineBackend(SequenceScheduler& scheduler, Transcriber& transcriber,
                             int planner_threads, size_t max_pending)
    : scheduler_(scheduler),
      transcriber_(transcriber),
      planners_(planner_threads),
      max_pending_(max_pending) {}

EngineBackend::~EngineBackend() {
  stop();
}

void EngineBackend::stop() {
  stopping_ = true;
  planners_.stop();
}

void EngineBackend::submit(TranscriptionJob job, TranscriptionDone done) {
  if (stopping_) throw HttpError(503, "the server is shutting down");
  if (pending_.fetch_add(1) >= max_pending_) {
    const size_t pending = pending_.fetch_sub(1) - 1;
    throw HttpError(503, cat("too many requests in progress (", pending, "): try again later"));
  }
  // The job moves into the planner's task; the shared state outlives both.
  auto shared = std::make_shared<TranscriptionJob>(std::move(job));
  planners_.post([this, shared, done = std::move(done)]() mutable {
    InputOptions options;
    if (!shared->prompt.empty()) options.prompt_text = shared->prompt;
    options.cancelled = shared->cancelled;
    options.on_started = shared->events.started;
    options.on_first_token = shared->events.first_token;
    options.on_prompt_tokens = shared->events.prompt_tokens;
    options.on_text_delta = shared->on_text_delta;
    options.background = shared->background;
    if (shared->cancelled->load()) {
      pending_.fetch_sub(1);
      done({.result = {}, .failure = nullptr, .cancelled = true});
      return;
    }
    Audio audio = std::move(shared->audio);
    auto finish = std::make_shared<TranscriptionDone>(std::move(done));
    try {
      transcriber_.submit(std::move(audio), options, [this, shared, finish](InputResult result) {
        pending_.fetch_sub(1);
        (*finish)(outcome_of(std::move(result), scheduler_.fault(), shared->cancelled->load()));
      });
    } catch (...) {  // planning itself broke (out of memory, say): answer, never leak the job
      pending_.fetch_sub(1);
      (*finish)({.result = {}, .failure = std::current_exception(), .cancelled = false});
    }
  });
}

LoadStats EngineBackend::load() const {
  const EngineLoopStats stats = scheduler_.stats();
  LoadStats load{.running = stats.running,
                 .waiting = stats.waiting,
                 .kv_cache_usage = stats.kv_cache_usage,
                 .engines = {}};
  for (const EngineStatus& engine : scheduler_.engines())
    load.engines.push_back({.device = engine.device,
                            .running = engine.stats.running,
                            .waiting = engine.stats.waiting,
                            .kv_cache_usage = engine.stats.kv_cache_usage,
                            .healthy = engine.fault.empty()});
  return load;
}

}  // namespace glmasr::server
