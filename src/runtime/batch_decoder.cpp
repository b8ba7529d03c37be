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
      slots_(engine.kv_slots()),
      index_of_slot_(engine.kv_slots(), -1) {}

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
  collecting_slots_.swap(in_flight_slots_);  // the step the iteration before launched
  launch_step();
  if (!collecting_slots_.empty()) collect_step(collecting_slots_);
  retire_ended();
  // Admitting last: an admission keeps the host (encoder and prefill) for tens of ms, and the
  // tokens of the step before should not wait for it; the newcomers join the next launch
  // (admitting first measured lower throughput and a longer latency tail in the service,
  // docs/performance.md, session 13).
  admit_waiting();
}

void BatchDecoder::fail_all(const std::string& message) {
  // Whatever is in flight cannot be trusted (a device fault) or is not wanted (shutdown).
  if (!in_flight_slots_.empty()) engine_.discard_steps();
  in_flight_slots_.clear();
  collecting_slots_.clear();
  for (Running& r : running_) {
    r.in_flight = 0;
    if (r.ended) continue;
    r.result = failed(message);
    end(r);
  }
  retire_ended();
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
  for (Running& r : running_) {
    if (r.ended || !is_cancelled(r.sequence)) continue;
    r.result.stop = StopReason::kCancelled;
    end(r);
  }
  retire_ended();
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
      index_of_slot_[r.slot] = static_cast<int>(running_.size());
      running_.push_back(std::move(r));
      Running& now = running_.back();
      if (!accept_token(now.sequence.request, engine_.config().eos_token_ids, now.token,
                        admitted[i].first.logprob, now.result)) {
        end(now);
      } else if (now.position >= engine_.kv_positions()) {  // the slot is full
        now.result.stop = StopReason::kLength;
        end(now);
      }
    }
    retire_ended();
  }
}

bool BatchDecoder::may_take_token(const Running& r) const {
  return !r.ended && r.position < engine_.kv_positions() &&
         static_cast<int>(r.result.tokens.size()) + r.in_flight < r.sequence.request.max_new_tokens;
}

void BatchDecoder::launch_step() {
  step_inputs_.clear();
  in_flight_slots_.clear();
  for (Running& r : running_) {
    if (!may_take_token(r)) continue;
    // A token still in flight is fed on the device from the row that chooses it.
    step_inputs_.push_back({.slot = r.slot,
                            .token = r.token,
                            .position = r.position,
                            .follows = r.in_flight > 0 ? r.row : -1});
    r.row = static_cast<int>(in_flight_slots_.size());
    in_flight_slots_.push_back(r.slot);
    ++r.position;
    ++r.in_flight;
  }
  if (step_inputs_.empty()) return;
  const Stopwatch step_watch;
  engine_.launch_step(step_inputs_);
  times_.step_seconds += step_watch.seconds();
  ++times_.steps;
  times_.step_rows += step_inputs_.size();
}

void BatchDecoder::collect_step(const std::vector<int>& slots) {
  const Stopwatch collect_watch;
  const std::vector<TokenChoice> chosen = engine_.collect_step();
  times_.step_seconds += collect_watch.seconds();
  GLMASR_CHECK(chosen.size() == slots.size(), "engine step gave ", chosen.size(), " tokens for ",
               slots.size(), " sequences");
  for (size_t i = 0; i < slots.size(); ++i) {
    Running& r = running_[index_of_slot_[slots[i]]];
    --r.in_flight;
    if (r.ended) continue;  // a row launched before the host saw the sequence stop
    r.token = chosen[i].token;
    if (!accept_token(r.sequence.request, engine_.config().eos_token_ids, chosen[i].token,
                      chosen[i].logprob, r.result)) {
      end(r);
    } else if (r.in_flight == 0 && r.position >= engine_.kv_positions()) {  // the slot is full
      r.result.stop = StopReason::kLength;
      end(r);
    }
  }
}

void BatchDecoder::finish(Sequence& sequence, GenerationResult result) {
  if (sequence.on_done) sequence.on_done(std::move(result));
  sequence.on_done = nullptr;
}

void BatchDecoder::end(Running& r) {
  r.ended = true;
  finish(r.sequence, std::move(r.result));
}

void BatchDecoder::retire_ended() {
  for (size_t i = running_.size(); i-- > 0;)
    if (running_[i].ended && running_[i].in_flight == 0) retire(i);
}

void BatchDecoder::retire(size_t index) {
  const int slot = running_[index].slot;
  reserved_positions_ -= running_[index].reserved_positions;
  if (index + 1 != running_.size()) {
    running_[index] = std::move(running_.back());
    index_of_slot_[running_[index].slot] = static_cast<int>(index);
  }
  running_.pop_back();
  index_of_slot_[slot] = -1;
  engine_.release(slot);
  slots_.release(slot);
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
