// The engine seam: everything above it (the transcription pipeline, the CLI, the server) is the
// same for the CPU reference and the CUDA engine; everything below it is device-specific.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audio/mel_windows.h"
#include "core/tensor.h"
#include "model/config.h"

namespace glmasr {

// One sequence to decode: its encoder input and its prompt, whose audio_token_id placeholders
// receive the kept projector rows of all its windows in order.
struct GenerationRequest {
  const MelWindows* mel = nullptr;
  // Kept projector rows of each window (model/audio_tokens.h), decided by the planner that built
  // the prompt: the prompt has exactly their sum of placeholders, and engines take them as given.
  std::vector<int64_t> audio_rows;
  std::vector<int32_t> prompt_ids;
  int max_new_tokens = 0;
  // Called with each generated token that is not a stop token; returning false ends the
  // sequence there (the loop guard). May be empty.
  std::function<bool(int32_t token)> on_token;

  int64_t total_audio_rows() const;
};

enum class StopReason { kEos, kLength, kStopped, kCancelled, kError };
// "eos", "length", "stopped", "cancelled", "error"
const char* stop_reason_name(StopReason reason);

struct GenerationResult {
  std::vector<int32_t> tokens;  // generated ids, the stop token excluded
  std::vector<float> logprobs;  // log-softmax of each token in `tokens`
  StopReason stop = StopReason::kLength;
  std::string error;  // set when stop == kError: this request failed, the others did not
};

// The stop rules every engine applies to a chosen token: an eos id ends the sequence (and is not
// recorded), otherwise the token is recorded, then on_token may stop it, then max_new_tokens.
// Returns true when the sequence goes on.
bool accept_token(const GenerationRequest& request, const std::vector<int>& eos_ids, int32_t token,
                  float logprob, GenerationResult& result);

// A greedy choice: the arg-max token and its log-softmax.
struct TokenChoice {
  int32_t token = 0;
  float logprob = 0.0f;
};

// A sequence entering the engine: it will live in KV slot `slot` until released.
struct SequenceAdmission {
  int slot = 0;
  const GenerationRequest* request = nullptr;
};

// What admitting one sequence gave: its first token, or why it failed (the others are not
// affected).
struct AdmissionResult {
  TokenChoice first;
  std::string error;  // non-empty: the request failed; its slot is free again
};

// Where the device time of one Engine::admit went, for --timings: the upload of the batch's
// log-mel windows, the batched encoder pass, and the prefills that followed it (with any window
// a request had to encode alone). Zero where an engine does not time its device (the CPU engine).
struct AdmissionSplit {
  double upload_seconds = 0;
  double encoder_seconds = 0;
  double prefill_seconds = 0;
};

// One running sequence of a decoding step: it feeds `token` at `position` (its length so far).
struct StepInput {
  int slot = 0;
  int32_t token = 0;
  int position = 0;
  // >= 0: it feeds instead the token that row `follows` of the step launched just before this
  // one chooses; that step may still be in flight, its tokens not yet on the host.
  int follows = -1;
};

// A device engine, driven one engine-loop iteration at a time (runtime/batch_decoder.h):
// sequences are admitted into KV slots (windows encoded, prompts prefilled), then every running
// sequence advances one token per step, then its slot is released. Not thread-safe: one thread
// (the engine loop's) drives it. Failures of one request come back in its AdmissionResult;
// glmasr::DeviceError escapes (the device may be unusable for everyone).
class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  // "cpu (float32, 2 threads)" / "cuda bf16 on NVIDIA H100 80GB HBM3"
  virtual std::string describe() const = 0;
  // The device it runs on, as logs and /metrics label it: "cpu", "cuda:1".
  virtual std::string device() const { return "cpu"; }

  // KV capacity: sequences resident at once, and positions (prompt + generated) each.
  virtual int kv_slots() const = 0;
  virtual int kv_positions() const = 0;
  // Windows of admissions joining together should not exceed this (one encoder batch).
  virtual int encoder_batch_windows() const { return 1; }

  // Encodes the windows of every admitted request (together where they fit) and prefills each
  // prompt into its slot; one result per admission, in order.
  virtual std::vector<AdmissionResult> admit(const std::vector<SequenceAdmission>& admissions) = 0;
  // The device time of the last admit(), split (device timers: no extra synchronisation).
  virtual AdmissionSplit last_admission_split() const { return {}; }
  // One decoding step: the next greedy token of every sequence (distinct slots), in order.
  // Every input's token is known (follows < 0); nothing may be launched and not collected.
  virtual std::vector<TokenChoice> step(const std::vector<StepInput>& batch) = 0;
  // Pipelined steps, so that the device does not wait for the host between two of them: the
  // engine loop launches step N+1 (whose rows may follow step N's) before it collects step N's
  // tokens, so at most two steps are launched and not collected. launch_step enqueues a step
  // and returns; collect_step waits for the oldest launched step and returns its tokens. The
  // default runs step() at launch, for engines that compute on the calling thread.
  virtual void launch_step(const std::vector<StepInput>& batch);
  virtual std::vector<TokenChoice> collect_step();
  // Forgets every launched step not collected (a device fault, a loop that stops mid-step).
  virtual void discard_steps();
  // The sequence in `slot` is finished; its cache may be reused.
  virtual void release(int slot) = 0;
  // Prepares what the first steps of every batch size up to `max_batch` would otherwise build
  // on first use (the CUDA engine captures one graph per batch size), so that a service's first
  // requests do not wait for it. Returns the number of batch sizes prepared.
  virtual int warm_up(int max_batch) {
    (void)max_batch;
    return 0;
  }

  // Stage outputs for parity checks against a reference dump, as float32 on the host. They use
  // KV slot 0: call them only while no sequence is admitted.
  virtual FloatTensor encoder_output(const MelWindows& mel) = 0;    // [W, 1500, H]
  virtual FloatTensor audio_embeddings(const MelWindows& mel) = 0;  // [N, D] kept rows
  // Prefill `prompt_ids`, then feed `forced` one token at a time: row 0 holds the logits after
  // the prompt, row s those after forced[s-1]. [forced.size() + 1, V]
  virtual FloatTensor teacher_forced_logits(const MelWindows& mel,
                                            const std::vector<int32_t>& prompt_ids,
                                            const std::vector<int32_t>& forced) = 0;

 private:
  // The default launch_step's results not collected yet, and those of the last step launched
  // (which the next step's rows may follow).
  std::deque<std::vector<TokenChoice>> launched_;
  std::vector<TokenChoice> last_launched_;
};

}  // namespace glmasr
