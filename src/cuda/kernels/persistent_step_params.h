// What the persistent decoding step (persistent_decode_step.h) is given: the model's weights and
// the step's buffers. Plain data without CUDA types, so that the host code that lays out the
// step's work (persistent_step_rows.h) is tested in builds without CUDA too.
#pragma once

#include <cstdint>

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
  // Benchmarks only (null otherwise), zeroed: [blocks][persistent_decode_step_phases()]
  // [persistent_decode_step_timeline_entries()] per block and phase, in globaltimer ns: when its
  // inputs were ready, when it was done, how long its consumers waited for ring stages, when its
  // producer issued the phase's first stage (0 where the block had nothing of it).
  uint64_t* timeline = nullptr;
};

}  // namespace glmasr::cuda
