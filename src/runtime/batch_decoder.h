// One engine-loop iteration, single-threaded: sequences wait in a FIFO queue; each iterate()
// cancels what was cancelled, launches one decoding step for every running sequence, collects
// the step launched by the iteration before (hands each token to its request's on_token, ends
// finished sequences through their on_done), then admits waiting sequences while the batch limit
// and the free KV slots allow (their windows encoded together, their prompts prefilled); they
// join the next launch. Iteration-level (continuous) batching as in Orca and vLLM: a newcomer
// waits at most one step, never for the running batch to finish.
//
// Steps are pipelined (Engine::launch_step): step N+1 is on the device before the host reads
// step N's tokens, its rows fed on the device from step N's choices, so the GPU does not idle
// while the host reads, accepts and launches. The price: a sequence that ends on a token the
// host could not foresee (eos, its on_token's stop, a cancel) has already been launched into one
// more step; that row's token is dropped, and the sequence keeps its slot until it is collected.
//
// EngineLoop runs this on its own thread for requests that keep arriving; generate() runs it
// to completion on the caller's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "runtime/kv_slot_pool.h"

namespace glmasr {

// A sequence handed to the engine loop. Its callbacks run on the loop's thread: keep them short.
struct Sequence {
  GenerationRequest request;
  // Called exactly once, when the sequence ends for any reason (stop rule, cancel, error).
  std::function<void(GenerationResult result)> on_done;
  // Set by anyone (a disconnecting client, a deadline): the sequence ends with kCancelled at the
  // next iteration, within one decoding step. May be null.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // Called when the sequence has been prefilled into its slot (it left the queue). May be empty.
  std::function<void()> on_admitted;
  // Background work (a live session's interim hypothesis): admitted only when no other
  // sequence waits.
  bool background = false;
};

// Where an engine loop's time went, summed since it started (glmasr transcribe --timings).
struct DecodeTimes {
  double admit_seconds = 0;          // Engine::admit: encoder batches and prefills
  double admit_upload_seconds = 0;   // of which the device spent on log-mel uploads,
  double admit_encoder_seconds = 0;  // in encoder batches
  double admit_prefill_seconds = 0;  // and in prefills (Engine::last_admission_split)
  uint64_t admit_calls = 0;          // encoder batches
  uint64_t admitted = 0;             // sequences
  double step_seconds = 0;           // Engine::step
  uint64_t steps = 0;
  uint64_t step_rows = 0;   // sequences summed over the steps (mean batch = step_rows / steps)
  double idle_seconds = 0;  // the loop waited for work (EngineLoop)

  DecodeTimes& operator+=(const DecodeTimes& other) {
    admit_seconds += other.admit_seconds;
    admit_upload_seconds += other.admit_upload_seconds;
    admit_encoder_seconds += other.admit_encoder_seconds;
    admit_prefill_seconds += other.admit_prefill_seconds;
    admit_calls += other.admit_calls;
    admitted += other.admitted;
    step_seconds += other.step_seconds;
    steps += other.steps;
    step_rows += other.step_rows;
    idle_seconds += other.idle_seconds;
    return *this;
  }
};

class BatchDecoder {
 public:
  // max_batch: sequences decoded together (at most the engine's KV slots; 0 means all of them).
  BatchDecoder(Engine& engine, int max_batch);
  ~BatchDecoder();  // fails whatever is still waiting or running ("engine loop stopped")
  BatchDecoder(const BatchDecoder&) = delete;
  BatchDecoder& operator=(const BatchDecoder&) = delete;

  void enqueue(Sequence sequence);
  bool idle() const { return waiting_.empty() && running_.empty(); }
  // Admit, step, retire (see the file comment). glmasr::DeviceError escapes; call fail_all then.
  void iterate();
  // Ends every sequence with kError and `message` (after a device fault, or at shutdown).
  void fail_all(const std::string& message);

  int running() const { return static_cast<int>(running_.size()); }
  int waiting() const { return static_cast<int>(waiting_.size()); }
  // Fraction of the KV cache's positions reserved by running sequences (prompt + max new tokens
  // each, within a slot's capacity).
  double kv_usage() const;
  int max_batch() const { return max_batch_; }
  const DecodeTimes& times() const { return times_; }

 private:
  struct Running {
    Sequence sequence;
    GenerationResult result;
    int slot = 0;
    int position = 0;    // where the next launched token goes
    int32_t token = 0;   // the token to feed next, when none is in flight
    int in_flight = 0;   // its rows in launched steps not collected yet (0..2)
    int row = 0;         // its row in the last launched step, while in_flight > 0
    bool ended = false;  // on_done has its result; the slot waits for the rows in flight
    int64_t reserved_positions = 0;
  };

  void cancel_requested();
  void admit_waiting();
  // Launches a step of every running sequence that may take another token; in_flight_slots_
  // holds the slots of its rows in order (empty: nothing launched).
  void launch_step();
  // Collects the step whose rows are `slots`: accepts each token, ends what stops.
  void collect_step(const std::vector<int>& slots);
  // Validates a sequence before it takes a slot; returns the error, or empty.
  std::string reject_reason(const Sequence& sequence) const;
  bool may_take_token(const Running& r) const;
  void finish(Sequence& sequence, GenerationResult result);
  // Hands the running sequence's result to its on_done; it is retired once nothing of it is
  // in flight.
  void end(Running& r);
  void retire_ended();
  void retire(size_t index);
  int64_t reservation(const GenerationRequest& request) const;

  Engine& engine_;
  int max_batch_;
  KvSlotPool slots_;
  std::deque<Sequence> waiting_;
  std::vector<Running> running_;
  std::vector<int> index_of_slot_;  // running_'s index of each occupied slot
  // The rows' slots of the step launched last and not collected, and of the one being collected;
  // with step_inputs_, reused by every step: no allocation per token.
  std::vector<int> in_flight_slots_, collecting_slots_;
  std::vector<StepInput> step_inputs_;
  int64_t reserved_positions_ = 0;
  DecodeTimes times_;
};

// Greedy decoding of every request to the end, on the calling thread (tests, parity, tools).
// Results in request order; one failing request does not affect the others.
std::vector<GenerationResult> generate(Engine& engine,
                                       const std::vector<GenerationRequest>& requests,
                                       int max_batch = 0);

}  // namespace glmasr
