// The Llama decoder on the GPU: a slotted KV cache for a batch of sequences of different
// lengths, prefill of one prompt into a slot (chunked, causal flash attention over the cache) or
// of several prompts packed into one pass, and the decoding step of a batch of slots captured per
// batch size, once that size recurs, in one CUDA graph (embedding, 28 layers, final norm, lm_head,
// greedy argmax) and replayed per token; only the next token ids and their log-probabilities come
// back to the host, and the next step may be launched before they have (launch_step). A
// step of 1 sequence runs its projections through the fused matrix-vector kernel, up to 64
// through the skinny-batch tensor-core kernel, larger ones through cuBLASLt (measured:
// decoder_runner.cpp). FP8 weights (model.weights): the first two read the codes; cuBLASLt
// (prefill, steps beyond 64, and where it beats the skinny kernel) the model's copy dequantized
// once at load into the element type. A step of ONE sequence may instead run as one
// persistent kernel (persistent_decode_step.h), where the device and shapes allow and it measures
// faster than the graph of kernels.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "cuda/cuda_graph.h"
#include "cuda/device_buffer.h"
#include "cuda/engine/device_model.h"
#include "cuda/engine/kv_cache.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/qkv_rope_epilogue.h"
#include "cuda/kernels/rope.h"

namespace glmasr::cuda {

// Which kernel multiplies a projection of a step (defined and chosen in decoder_runner.cpp).
enum class ProjectionKernel : int;
struct PersistentStepParams;  // cuda/kernels/persistent_decode_step.h

struct DecodedToken {
  int32_t token = 0;
  float logprob = 0.0f;
};

// One prompt of a packed prefill: its ids go into `slot` from position 0, and its audio
// placeholders take rows audio_first_row.. of the pass's audio matrix, in order.
struct PackedPrompt {
  int slot = 0;
  const std::vector<int32_t>* ids = nullptr;
  int64_t audio_first_row = 0;
  int64_t audio_rows = 0;
};

// One sequence of a decoding step: it feeds `token` at `position` (its length so far), or, with
// follows >= 0, the token row `follows` of the step launched before this one chose (read on the
// device: that step may still be in flight).
struct SequenceStep {
  int slot = 0;
  int32_t token = 0;
  int position = 0;
  int follows = -1;
};

// The stages of a decoding step, for timing each one on its own (bench).
enum StepStage : unsigned {
  kStageEmbed = 1u << 0,
  kStageQkv = 1u << 1,        // RMSNorm + fused QKV projection (+ RoPE and KV write where the
                              // matrix-vector kernel takes the batch)
  kStageRope = 1u << 2,       // RoPE on q and k + KV-cache write as its own kernel, where not fused
  kStageAttention = 1u << 3,  // flash-decoding over the cache
  kStageOProj = 1u << 4,      // o_proj with the residual add fused
  kStageGateUp = 1u << 5,     // RMSNorm + gate|up projection + SwiGLU, one kernel
  kStageDown = 1u << 6,       // down projection with the residual add fused
  kStageHead = 1u << 7,       // final RMSNorm + lm_head
  kStageArgmax = 1u << 8,
  kStageAll = 0x1ffu,
};

// How a step of one sequence runs: the graph of kernels, or the persistent kernel; kFastest
// times both on this device once, before the step graph of batch 1 is captured.
enum class SingleStepKernel { kFastest, kKernelGraph, kPersistent };

class DecoderRunner {
 public:
  // max_slots sequences of up to max_seq positions each; prefill runs in chunks of at most
  // prefill_chunk rows.
  DecoderRunner(const DeviceModel& model, Gemm& gemm, int max_slots, int max_seq, int prefill_chunk,
                cudaStream_t stream);
  ~DecoderRunner();
  DecoderRunner(const DecoderRunner&) = delete;
  DecoderRunner& operator=(const DecoderRunner&) = delete;

  int max_slots() const { return max_slots_; }
  int max_seq() const { return max_seq_; }

  // Runs the prompt through the decoder into `slot` (positions 0..ids.size()-1). The rows whose
  // id is the audio token take the rows of `audio` [audio_rows, D] (device) in order; the counts
  // must match. Returns the greedy next token. Synchronises the stream.
  DecodedToken prefill(int slot, const std::vector<int32_t>& ids, const void* audio,
                       int64_t audio_rows);
  // Several prompts, each from position 0 of its own slot, in one pass: their rows are
  // concatenated through every GEMM, RoPE writes each row to its slot and position, and causal
  // attention runs per prompt over its own rows. Their total length is at most packed_rows().
  // `audio` [*, D] (device) holds every prompt's audio rows. Returns each prompt's greedy next
  // token; logits(g) is prompt g's. Synchronises the stream.
  std::vector<DecodedToken> prefill_packed(const std::vector<PackedPrompt>& prompts,
                                           const void* audio);
  int64_t packed_rows() const { return rows_; }
  // Warm-ups (gemm.h says why), on whatever the buffers and weights hold; nothing is timed or
  // chosen, results are garbage and slots 0.. are overwritten. warm_up_prompts runs the
  // prefill's first layer over one prompt of `prompt_rows` rows and over the largest packed pass
  // of such prompts that fits; warm_up_row_counts over row counts spread over
  // 8..packed_rows() (four an octave), with lm_head's GEMM for those up to the slots: the
  // steps' projections share the prefill's shapes.
  void warm_up_prompts(int64_t prompt_rows);
  void warm_up_row_counts();
  // One decoding step for every sequence (distinct slots), every token known; nothing may be in
  // flight. Synchronises the stream.
  std::vector<DecodedToken> step(const std::vector<SequenceStep>& sequences);
  // Pipelined steps (Engine::launch_step): launch_step enqueues the control arrays' upload, the
  // step and its tokens' copy to the host, and returns; collect_step waits for the oldest
  // launched step and returns its tokens. At most two launched steps are not collected. A step
  // whose batch size first needs kernels timed (step_choice_pending) waits for the step in
  // flight and feeds its tokens from the host (the timing needs a quiet GPU, and its runs
  // overwrite the device's copy of the previous step's tokens).
  void launch_step(const std::vector<SequenceStep>& sequences);
  std::vector<DecodedToken> collect_step();
  // Waits for the stream (ignoring a fault) and forgets the steps not collected.
  void discard_steps();
  // Logits of row `row` of the last prefill (row 0) or step, as float.
  std::vector<float> logits(int row) const;

  // For benchmarks: write the control arrays of `sequences` to the device (async; every token
  // known or following the last launched step's rows), enqueue the
  // selected stages of a step of that batch on the stream (no graph), or replay the captured
  // graph of that batch (capturing it on first use).
  void upload_step(const std::vector<SequenceStep>& sequences);
  void enqueue_step(int batch, unsigned stages);
  void launch_step_graph(int batch);
  // Captures the step graph of every batch size 1..max_batch not captured yet; returns how many.
  int capture_step_graphs(int max_batch);
  // Times the skinny-batch kernel against cuBLASLt for each projection of a step of `batch`
  // sequences on this device, once per batch class (with fp8 weights: the codes against their
  // dequantized copy). Called before a step graph is captured and before a packed prefill's
  // lm_head; enqueue_step uses the result, or the skinny kernel where nothing was measured.
  void choose_step_kernels(int batch);
  // The weight bytes a step of `batch` sequences reads with the kernels chosen so far:
  // model.decoder_bytes, but with fp8 weights each projection cuBLASLt takes reads its
  // dequantized copy instead of the codes and scales (for benchmarks' GB/s).
  size_t step_weight_bytes(int batch) const;
  // Whether the first step of `batch` would time kernels first (the batch-1 choice, or
  // choose_step_kernels' class not measured yet): that needs a quiet GPU.
  bool step_choice_pending(int batch) const;
  // For tests and benchmarks: which kernel the batch-1 step takes from now on (the captured graph
  // of batch 1 is dropped). kPersistent throws, naming why, where that kernel cannot run.
  void set_single_step_kernel(SingleStepKernel kernel);
  // Whether the batch-1 step runs the persistent kernel now. The batch-1 choice (the graph's
  // shared-memory carveouts, then kFastest's persistent-or-graph) is measured at most once, when
  // the batch-1 graph is first captured or here.
  bool single_step_persistent();
  // For benchmarks: one persistent step of the sequence in the control arrays with its timeline
  // (PersistentStepParams::timeline). Synchronises.
  std::vector<uint64_t> persistent_step_timeline();
  // What the batch-1 step's choice measured (each candidate's step, ms), in the order timed.
  struct SingleStepTiming {
    std::string kernel;
    double ms = 0;
  };
  const std::vector<SingleStepTiming>& single_step_timings() const { return single_step_timings_; }
  // The shared-memory carveouts (percent of an SM's shared memory / L1, -1: the driver's choice)
  // the batch-1 step's kernels ask for; chosen by timing (decoder_runner.cpp).
  struct StepCarveouts {
    int qkv = -1, attention = -1, o_proj = -1, gate_up = -1, down = -1;
  };
  // Why the persistent kernel cannot run here; empty where it can.
  const std::string& persistent_unsupported() const { return persistent_unsupported_; }

 private:
  // The projections of a step, for choosing their kernels.
  enum StepProjection {
    kQkvProjection,
    kOutProjection,
    kGateUpProjection,
    kDownProjection,
    kHeadProjection,
    kStepProjections
  };
  // What each of the step's projections multiplies: [out, in] weights (out 2F for the fused
  // gate|up, SwiGLU after), with the residual added or not.
  struct ProjectionShape {
    int64_t out = 0, in = 0;
    bool swiglu = false, residual = false;
  };
  std::array<ProjectionShape, kStepProjections> projection_shapes() const;
  struct Projection;
  // The kernel that multiplies p (the skinny kernel only where it beat cuBLASLt when timed).
  ProjectionKernel kernel_for(const Projection& p) const;
  void project(const Projection& p);
  // lm_head over `batch` rows of x [batch, D], the final RMSNorm first, into logits_.
  Projection head_projection(const void* x, int batch) const;
  void project_with(ProjectionKernel kernel, const Projection& p);
  bool skinny_preferred(StepProjection which, int batch) const;
  // What cuBLASLt multiplies: w itself, or (fp8: scale set) its dequantized copy in the model.
  static const void* gemm_weight(const void* w, const float* scale, const void* dequantized);
  // RoPE over `rows` fused QKV rows of layer `layer`, writing K/V into that layer's cache; the
  // caller says where the rows sit (slot and first position, or per-row slots and positions).
  RopeQkvParams rope_params(int layer, void* qkv, int64_t rows) const;
  // The decoding step's RoPE epilogue for layer `layer`'s QKV projection: q into step_q_, k and
  // v into the layer's cache at each row's slot and position (the control rows).
  QkvRopeEpilogue step_rope_epilogue(int layer) const;
  // Each id's row of the audio matrix (first_audio_row + its placeholder index), or -1; checks
  // the ids and that the placeholders number audio_rows.
  std::vector<int32_t> audio_row_of_ids(const std::vector<int32_t>& ids, int64_t first_audio_row,
                                        int64_t audio_rows) const;
  // Rows [first_row, first_row + rows) of the pass belong to one slot, starting at position
  // first_position; their causal attention covers the slot's positions 0.. first_position + rows.
  struct PassSpan {
    int slot = 0;
    int64_t first_row = 0, rows = 0, first_position = 0;
  };
  // The 28 layers over the `rows` embedded rows in hidden_. One span: rows at consecutive
  // positions of one slot; several: row_positions_/row_slots_ (device) say where each row goes
  // and attention_spans_ (device) holds the spans for the packed attention launch.
  // The first `layers` layers (all by default).
  void prefill_pass(int64_t rows, const std::vector<PassSpan>& spans, int layers = -1);
  // Where the rows of a packed pass go: each prompt's span (for the layers and the attention
  // launch) and each row's position and slot.
  struct PackedPass {
    std::vector<PassSpan> spans;
    std::vector<FlashAttentionSpan> attention;
    std::vector<int32_t> positions, slots;
    // Appends a prompt of `length` rows, written into `slot` from position 0.
    void add(int slot, int64_t length);
    int64_t rows() const { return static_cast<int64_t>(positions.size()); }
  };
  // The pass's row positions, row slots and attention spans, to the device (async).
  void upload_pass_rows(const PackedPass& pass);
  // The first layer over a packed pass of `rows` rows in prompts of at most `prompt_rows`.
  void warm_up_pass(int64_t rows, int64_t prompt_rows);
  // The rows of the step's control arrays (control_, and each StepStaging's host copy).
  enum ControlRow {
    kControlTokens,
    kControlSlots,
    kControlPositions,
    kControlLengths,
    kControlFollows,
    kControlRows
  };
  const int32_t* control_row(ControlRow row) const {
    return control_.as<int32_t>() + int64_t{row} * max_slots_;
  }
  // The pinned host side of a launched step: its control arrays on the way in, its tokens on the
  // way out, and the event after which those are on the host. Two, for the pipelined steps.
  struct StepStaging {
    int32_t* control = nullptr;  // [kControlRows, max_slots]
    int32_t* token = nullptr;    // [max_slots]
    float* logprob = nullptr;    // [max_slots]
    cudaEvent_t done = nullptr;
    int batch = 0;
  };
  StepStaging& staging_of(int64_t step) { return staging_[step % 2]; }
  const StepStaging& staging_of(int64_t step) const { return staging_[step % 2]; }
  // Checks that a row following the step launched before names one of that step's rows.
  void check_follows(int follows) const;
  // The batch that choose_step_kernels(batch) would time its projections at, or 0 where it has
  // nothing to time.
  int step_kernels_to_time(int batch) const;
  // The step graph of `batch`, captured (after choose_step_kernels) if it is not yet.
  CudaGraph& step_graph(int batch);
  // The persistent kernel's parameters for the current control arrays; why it cannot run, if not.
  PersistentStepParams persistent_params() const;
  // Times the persistent kernel against the graph of kernels (kFastest) once.
  void choose_single_step();
  // Final norm, lm_head and greedy choice of the pass rows `last_rows` (one per prompt).
  std::vector<DecodedToken> choose_after_prefill(const std::vector<int64_t>& last_rows);

  const DeviceModel& model_;
  Gemm& gemm_;
  int max_slots_, max_seq_, chunk_;
  int64_t rows_;  // rows a prefill pass holds: chunk_, or more for packed prompts
  cudaStream_t stream_;
  RopeTable rope_;
  KvCache kv_;
  // prefill
  DeviceBuffer ids_, audio_row_, row_positions_, row_slots_, attention_spans_, hidden_, normed_,
      qkv_, attn_, gate_up_, act_;
  // decoding step
  // (out_token_ takes a prefill's greedy choices, step_token_ a step's, kept for the next step's
  // rows that follow them; out_logprob_ takes the log-probabilities of both.)
  DeviceBuffer control_, step_hidden_, step_normed_, step_qkv_, step_q_, step_attn_, step_gate_up_,
      step_act_, logits_, out_token_, out_logprob_, step_token_, attention_workspace_,
      argmax_workspace_;
  DeviceBuffer skinny_workspace_;  // the skinny kernel's partial sums and counters (zeroed)
  // choose_step_kernels' RoPE: kChoiceScratchIndexBytes of zeros (every timed row's position and
  // slot), then a K and a V cache of one position (zeroed).
  static constexpr size_t kChoiceScratchIndexBytes = 256;
  DeviceBuffer choice_scratch_;
  int32_t* host_token_ = nullptr;  // pinned [max_slots]: a prefill's greedy choices
  float* host_logprob_ = nullptr;  // pinned [max_slots]
  std::array<StepStaging, 2> staging_;
  int64_t steps_launched_ = 0, steps_collected_ = 0;
  std::map<int, CudaGraph> graphs_;  // the step per batch size, captured once it recurs
  // launch_step launches a batch size's first steps without a graph (see there).
  static constexpr int kStepsBeforeCapture = 2;
  std::map<int, int> uncaptured_steps_;
  // The batch-1 persistent kernel: its layer table (device), zeroed workspace, why it cannot run
  // here (empty: it can), what was asked and whether steps of one take it.
  DeviceBuffer persistent_layers_, persistent_workspace_;
  std::string persistent_unsupported_;
  SingleStepKernel single_step_kernel_ = SingleStepKernel::kFastest;
  bool single_step_chosen_ = false, single_step_persistent_ = false;
  StepCarveouts single_step_carveouts_;
  int single_step_gemv_blocks_ = 0;  // GemvParams::blocks_per_sm at batch 1, measured likewise
  std::vector<SingleStepTiming> single_step_timings_;
  // Per batch class of the skinny kernel (its padded rows) and projection: whether it beat
  // cuBLASLt when timed (choose_step_kernels).
  std::map<int, std::array<bool, kStepProjections>> skinny_beats_cublaslt_;
};

}  // namespace glmasr::cuda
