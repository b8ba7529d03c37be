// The whole decoding step of ONE sequence (embedding, every layer, final norm, lm_head, greedy
// argmax) as one persistent kernel: a block per SM, all resident for the step.
//
// Why: at batch 1 a step is a stream of ~2.9 GB of weights that depend on nothing, cut into
// ~140 phases that each depend on the whole of the previous one. As separate kernels, every
// phase boundary drains the memory pipe (the next kernel can only load what its registers hold
// before it waits); here one producer warp per block streams that block's weight rows for the
// whole step, phase after phase, into a ring of shared-memory stages (cp.async.bulk with mbarrier
// completion), without ever waiting for activations. The eight consumer warps wait at each phase
// boundary (a completion counter per phase in global memory) and then multiply what is already
// in the ring, so the boundary latency hides behind the ring's depth instead of stalling DRAM.
//
// Phases per layer, each split over all blocks by rows (the work list, persistent_step_rows.h,
// which producer and consumers walk alike):
//   qkv:       RMSNorm(x) [every block normalises x itself] @ Wqkv -> raw q|k|v; v rows straight
//              into the cache at the sequence's position
//   attention: (q head, key split) items: RoPE on q and the newest k (its block writes k to the
//              cache), online softmax over the split's keys -> (max, sum, output) partials
//   o_proj:    each block merges the partials of the columns it multiplies, x += o
//   gate|up:   RMSNorm(x) @ [Wgate; Wup] (a block owns gate row f and up row F + f) -> SwiGLU
//   down:      x += act @ Wdown
// then lm_head with the greedy choice folded into its epilogue; the last block to finish merges
// the blocks' choices and leaves the counters at zero for the next launch.
// Roundings are those of the matrix-vector path (gemv.h): the sums only are ordered differently.
// With fp8 weights (PersistentStepParams::fp8) the ring carries E4M3 codes, half the bytes, and
// each row's sum of code * input is scaled by the row's scale, as the matrix-vector kernel does.
//
// Measured on the H200 (glmasr bench, docs/performance.md session 9): 1.225 ms against 1.103 for
// the graph of kernels, so the engine keeps the graph there (DecoderRunner times both on the
// device it runs on). With no waits between blocks at all it still took 1.115 ms: the ring stalls
// whenever the consumers do a phase's fixed work, and one block per SM cannot keep more bytes in
// flight than its shared memory holds. `glmasr bench` prints where each phase's time goes.
// Hence the producer's L2 lead (PersistentStepParams::l2_lead_stages, session 19): it prefetches
// the stages ahead of the ring into L2, so that DRAM streams on while the ring is full; not yet
// measured on a device.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.h"
#include "cuda/kernels/kv_layout.h"

namespace glmasr::cuda {

// One decoder layer's weights (fused as device_model.h says): the norms in the element type, the
// projections too, or as E4M3 codes with a float32 scale per row (PersistentStepParams::fp8).
struct PersistentStepLayer {
  const void* attn_norm = nullptr;  // [hidden]
  const void* qkv = nullptr;        // [(heads + 2 kv_heads) * head_dim, hidden]
  const void* o = nullptr;          // [hidden, heads * head_dim]
  const void* mlp_norm = nullptr;   // [hidden]
  const void* gate_up = nullptr;    // [2 * intermediate, hidden]
  const void* down = nullptr;       // [hidden, intermediate]
  // fp8 weights: the projections' per-row scales; null in the element type.
  const float* qkv_scale = nullptr;
  const float* o_scale = nullptr;
  const float* gate_up_scale = nullptr;
  const float* down_scale = nullptr;
};

struct PersistentStepParams {
  DType dtype = DType::kBF16;
  int layers = 0, hidden = 0, intermediate = 0, heads = 0, kv_heads = 0, head_dim = 0, vocab = 0;
  float eps = 1e-5f;
  const PersistentStepLayer* layer = nullptr;  // device [layers]
  const void* embed = nullptr;                 // [vocab, hidden]
  const void* final_norm = nullptr;            // [hidden]
  const void* lm_head = nullptr;               // [vocab, hidden]
  // fp8 weights: every layer's projections and lm_head are E4M3 codes, multiplied as the
  // matrix-vector kernel does (the row's sum of code * input, times the row's scale).
  bool fp8 = false;
  const float* lm_head_scale = nullptr;  // fp8 weights: [vocab]
  const void* cos = nullptr;             // RoPE table [positions, head_dim / 2]
  const void* sin = nullptr;
  void* k_cache = nullptr;  // every layer's K, layer after layer, laid out as kv
  void* v_cache = nullptr;
  KvLayout kv;  // slots set: layer l starts at kv.layer_offset(l)
  // Device [1] each, written by the host before the launch: the token fed, its cache slot and
  // position (the sequence's length so far; < kv.positions and < the RoPE table). Where follows
  // is set and *follows >= 0, the token fed is out_token[*follows] instead (the previous step's
  // choice, as FedTokens).
  const int32_t* token = nullptr;
  const int32_t* follows = nullptr;
  const int32_t* slot = nullptr;
  const int32_t* position = nullptr;
  // Device scratch: the residual stream [hidden], raw q|k|v [(heads + 2 kv_heads) * head_dim],
  // the SwiGLU activation [intermediate]; outputs: logits [vocab], the greedy token and its
  // log-softmax.
  void* x = nullptr;
  void* qkv_out = nullptr;
  void* act = nullptr;
  void* logits = nullptr;
  int32_t* out_token = nullptr;
  float* out_logprob = nullptr;
  // persistent_decode_step_workspace_bytes(), zeroed once: every launch leaves it so. One launch
  // at a time may use it.
  void* workspace = nullptr;
  // Ring stages (~24 KB each, per block) that the producer prefetches into L2 ahead of the stage
  // it copies into shared memory; 0: none. DecoderRunner measures the lead on its device.
  int l2_lead_stages = 0;
  // Benchmarks only (null otherwise), zeroed: [blocks][persistent_decode_step_phases()]
  // [persistent_decode_step_timeline_entries()] per block and phase, in globaltimer ns: when its
  // inputs were ready, when it was done, how long its consumers waited for ring stages, when its
  // producer issued the phase's first stage (0 where the block had nothing of it).
  uint64_t* timeline = nullptr;
};

// Whether the kernel takes these shapes on the current device; `why` says what does not fit.
bool persistent_decode_step_supported(const PersistentStepParams& p, std::string* why = nullptr);
size_t persistent_decode_step_workspace_bytes(const PersistentStepParams& p);
// The launch's blocks (one per SM) and phases (5 per layer: qkv, attention, o_proj, gate|up,
// down; then lm_head), for reading a timeline.
int persistent_decode_step_blocks();
int persistent_decode_step_phases(int layers);
int persistent_decode_step_timeline_entries();
// One step. A cooperative launch: every block is resident at once (or the launch fails), since
// the blocks wait for each other at every phase. It may be captured in a CUDA graph.
void persistent_decode_step(const PersistentStepParams& p, cudaStream_t stream);

}  // namespace glmasr::cuda
