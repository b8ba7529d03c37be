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
// (Prefetching the stages ahead of the ring into L2 made it slower: session 20.)
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>

#include "cuda/kernels/persistent_step_params.h"

namespace glmasr::cuda {

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
