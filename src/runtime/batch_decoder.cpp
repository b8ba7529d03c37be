#include "runtime/batch_decoder.h"

#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/stopwatch.h"

namespace glmasr {

namespace {

GenerationResult failed(std::string message) {
  GenerationResult result;
  result.stop = StopReason::kError;
  result.error = std::move(message);
  return result;
}

bool is_cancelled(const Sequence& sequence) {
  return sequence.cancelled && sequence.cancelled->load(std::memory_order_relaxed);
}

}  // namespace

BatchDecoder::BatchDecoder(Engine& engine, int max_batch)
    : engine_(engine),
      max_batch_(max_batch > 0 ? std::min(max_batch, engine.kv_slots()) : engine.kv_slots()),
      slots_(engine.kv_slots()) {}

BatchDecoder::~BatchDecoder() {
  fail_all("the engine loop stopped before this sequence ended");
}

void BatchDecoder::enqueue(Sequence sequence) {
  // The queue holds every normal sequence before every background one, FIFO within each: a
  // background sequence (an interim hypothesis) is admitted only when no normal one waits.
  if (sequence.background) {
    waiting_.push_back(std::move(sequence));
    return;
  }
  auto first_background = std::find_if(waiting_.begin(), waiting_.end(),
                                       [](const Sequence& s) { return s.background; });
  waiting_.insert(first_background, std::move(sequence));
}

void BatchDecoder::iterate() {
  cancel_requested();
  admit_waiting();
  if (!running_.empty()) step_running();
}

void BatchDecoder::fail_all(const std::string& message) {
  while (!running_.empty()) {
    running_.back().result = failed(message);
    finish_running(running_.size() - 1);
  }
  while (!waiting_.empty()) {
    Sequence sequence = std::move(waiting_.front());
    waiting_.pop_front();
    finish(sequence, failed(message));
  }
}

double BatchDecoder::kv_usage() const {
  return static_cast<double>(reserved_positions_) /
         (static_cast<double>(slots_.capacity()) * engine_.kv_positions());
}

void BatchDecoder::cancel_requested() {
  for (size_t i = running_.size(); i-- > 0;) {
    if (!is_cancelled(running_[i].sequence)) continue;
    running_[i].result.stop = StopReason::kCancelled;
    finish_running(i);
  }
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (!is_cancelled(*it)) {
      ++it;
      continue;
    }
    Sequence sequence = std::move(*it);
    it = waiting_.erase(it);
    GenerationResult result;
    result.stop = StopReason::kCancelled;
    finish(sequence, std::move(result));
  }
}

std::string BatchDecoder::reject_reason(const Sequence& sequence) const {
  const GenerationRequest& request = sequence.request;
  if (!request.mel) return "generation request without audio features";
  if (request.max_new_tokens <= 0)
    return cat("max_new_tokens must be positive, got ", request.max_new_tokens);
  if (static_cast<int64_t>(request.audio_rows.size()) != request.mel->windows())
    return cat("generation request: expected the kept audio rows of each of its ",
               request.mel->windows(), " windows, got ", request.audio_rows.size());
  if (request.prompt_ids.empty() ||
      static_cast<int64_t>(request.prompt_ids.size()) >= engine_.kv_positions())
    return cat("prompt of ", request.prompt_ids.size(), " tokens: expected 1..",
               engine_.kv_positions() - 1, " (the KV cache's positions per sequence)");
  return {};
}

int64_t BatchDecoder::reservation(const GenerationRequest& request) const {
  return std::min<int64_t>(engine_.kv_positions(), static_cast<int64_t>(request.prompt_ids.size()) +
                                                       request.max_new_tokens);
}

void BatchDecoder::admit_waiting() {
  const int window_budget = std::max(1, engine_.encoder_batch_windows());
  while (!waiting_.empty() && static_cast<int>(running_.size()) < max_batch_ &&
         slots_.available() > 0) {
    // The sequences joining together: their windows are encoded in one batch.
    std::vector<Running> joining;
    int windows = 0;
    while (!waiting_.empty() && static_cast<int>(running_.size() + joining.size()) < max_batch_ &&
           slots_.available() > 0) {
      if (std::string reason = reject_reason(waiting_.front()); !reason.empty()) {
        Sequence rejected = std::move(waiting_.front());
        waiting_.pop_front();
        finish(rejected, failed(std::move(reason)));
        continue;
      }
      const int w = static_cast<int>(waiting_.front().request.mel->windows());
      if (!joining.empty() && windows + w > window_budget) break;
      Running joined;
      joined.sequence = std::move(waiting_.front());
      waiting_.pop_front();
      joined.slot = *slots_.acquire();
      joining.push_back(std::move(joined));
      windows += w;
      if (windows >= window_budget) break;
    }
    if (joining.empty()) return;

    std::vector<SequenceAdmission> admissions;
    for (const Running& r : joining) admissions.push_back({r.slot, &r.sequence.request});
    std::vector<AdmissionResult> admitted;
    const Stopwatch admit_watch;
    try {
      admitted = engine_.admit(admissions);
      times_.admit_seconds += admit_watch.seconds();
      const AdmissionSplit split = engine_.last_admission_split();
      times_.admit_upload_seconds += split.upload_seconds;
      times_.admit_encoder_seconds += split.encoder_seconds;
      times_.admit_prefill_seconds += split.prefill_seconds;
      ++times_.admit_calls;
      times_.admitted += admissions.size();
    } catch (...) {
      // Back to the head of the queue, in order, so that whoever handles the fault (fail_all)
      // ends them like every other sequence.
      for (auto r = joining.rbegin(); r != joining.rend(); ++r) {
        slots_.release(r->slot);
        waiting_.push_front(std::move(r->sequence));
      }
      throw;
    }
    GLMASR_CHECK(admitted.size() == joining.size(), "engine admitted ", admitted.size(), " of ",
                 joining.size(), " sequences");
    for (size_t i = 0; i < joining.size(); ++i) {
      Running& r = joining[i];
      if (!admitted[i].error.empty()) {
        engine_.release(r.slot);
        slots_.release(r.slot);
        finish(r.sequence, failed(admitted[i].error));
        continue;
      }
      if (r.sequence.on_admitted) r.sequence.on_admitted();
      r.position = static_cast<int>(r.sequence.request.prompt_ids.size());
      r.token = admitted[i].first.token;
      r.reserved_positions = reservation(r.sequence.request);
      reserved_positions_ += r.reserved_positions;
      running_.push_back(std::move(r));
      const size_t index = running_.size() - 1;
      Running& now = running_[index];
      if (!accept_token(now.sequence.request, engine_.config().eos_token_ids, now.token,
                        admitted[i].first.logprob, now.result)) {
        finish_running(index);
      } else if (now.position >= engine_.kv_positions()) {  // the slot is full
        now.result.stop = StopReason::kLength;
        finish_running(index);
      }
    }
  }
}

void BatchDecoder::step_running() {
  std::vector<StepInput> batch;
  batch.reserve(running_.size());
  for (const Running& r : running_) batch.push_back({r.slot, r.token, r.position});
  const Stopwatch step_watch;
  const std::vector<TokenChoice> chosen = engine_.step(batch);
  times_.step_seconds += step_watch.seconds();
  ++times_.steps;
  times_.step_rows += batch.size();
  GLMASR_CHECK(chosen.size() == batch.size(), "engine step gave ", chosen.size(), " tokens for ",
               batch.size(), " sequences");
  // Walk backwards so finishing (which swaps with the last) never skips a sequence.
  for (size_t i = running_.size(); i-- > 0;) {
    Running& r = running_[i];
    ++r.position;
    r.token = chosen[i].token;
    const bool goes_on = accept_token(r.sequence.request, engine_.config().eos_token_ids,
                                      chosen[i].token, chosen[i].logprob, r.result);
    if (!goes_on) {
      finish_running(i);
    } else if (r.position >= engine_.kv_positions()) {  // the slot is full
      r.result.stop = StopReason::kLength;
      finish_running(i);
    }
  }
}

void BatchDecoder::finish(Sequence& sequence, GenerationResult result) {
  if (sequence.on_done) sequence.on_done(std::move(result));
  sequence.on_done = nullptr;
}

void BatchDecoder::finish_running(size_t index) {
  Running r = std::move(running_[index]);
  if (index + 1 != running_.size()) running_[index] = std::move(running_.back());
  running_.pop_back();
  reserved_positions_ -= r.reserved_positions;
  engine_.release(r.slot);
  slots_.release(r.slot);
  finish(r.sequence, std::move(r.result));
}

std::vector<GenerationResult> generate(Engine& engine,
                                       const std::vector<GenerationRequest>& requests,
                                       int max_batch) {
  std::vector<GenerationResult> results(requests.size());
  BatchDecoder decoder(engine, max_batch);
  for (size_t i = 0; i < requests.size(); ++i)
    decoder.enqueue({.request = requests[i],
                     .on_done = [&results, i](GenerationResult r) { results[i] = std::move(r); },
                     .cancelled = nullptr,
                     .on_admitted = nullptr,
                     .background = false});
  while (!decoder.idle()) decoder.iterate();
  return results;
}

}  // namespace glmasr
