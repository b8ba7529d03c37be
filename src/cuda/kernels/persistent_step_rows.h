// The persistent decoding step's work list (persistent_decode_step.cu): which weight rows each
// block streams in each phase, and the order in which its producer issues them into the ring as
// stages. The producer walks it (StageWalk) and the consumers multiply the same phases' rows in
// the same order, so the two must agree stage for stage; plain arithmetic, so host tests check
// the walk against the phases one by one (tests/unit/persistent_step_rows_test.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda/kernels/host_device.h"
#include "cuda/kernels/persistent_step_params.h"
#include "cuda/kernels/row_split.h"

namespace glmasr::cuda::persistent_step {

// The ring: stages of kStageBytes holding whole weight rows (6 of the hidden width 2048 in bf16,
// 2 of the MLP width 6144; twice as many fp8 codes), so a row never straddles two stages.
constexpr int kStageBytes = 24 * 1024;
constexpr int kMaxStageRows = 8;  // the consumers' warp reduction sums exactly 8 rows at once
constexpr int kPhasesPerLayer = 5;

enum class Phase : int { kQkv, kAttention, kOut, kGateUp, kDown, kHead };

// A phase's number, which indexes its completion counter and its timeline entries: five per
// layer, then lm_head (`layer` == the layer count).
GLMASR_HOST_DEVICE constexpr int phase_number(int layer, Phase phase) {
  return layer * kPhasesPerLayer + (phase == Phase::kHead ? 0 : static_cast<int>(phase));
}

// The weight rows (for gate|up: the (gate, up) row pairs) one block streams in one projection.
struct BlockRows {
  const std::byte* w = nullptr;  // row 0 of the matrix (E4M3 codes with fp8 weights)
  const float* scale = nullptr;  // fp8 weights: row 0's scale; else null
  int64_t in = 0, row_bytes = 0;
  int64_t first = 0, count = 0;
  int64_t up_rows = 0;  // gate|up: from gate row f to up row f (the intermediate size), else 0
  int per_stage = 0;    // rows (pairs) per ring stage
  GLMASR_HOST_DEVICE int stages() const {
    return static_cast<int>((count + per_stage - 1) / per_stage);
  }
  GLMASR_HOST_DEVICE int rows_in(int stage) const {
    const int64_t left = count - int64_t{stage} * per_stage;
    return static_cast<int>(left < per_stage ? left : per_stage);
  }
};

// Block `block` of `blocks` in phase `phase` of `layer` (== p.layers with Phase::kHead for
// lm_head); `weight_bytes` per weight (the element type's, or 1 for fp8 codes). p.layer is read:
// device memory in the kernel.
GLMASR_HOST_DEVICE inline BlockRows block_rows(const PersistentStepParams& p, int layer,
                                               Phase phase, int blocks, int block,
                                               int weight_bytes) {
  const int64_t width = int64_t{p.heads + 2 * p.kv_heads} * p.head_dim;
  const int64_t q_width = int64_t{p.heads} * p.head_dim;
  BlockRows r;
  int64_t n = 0;
  const void* w = nullptr;
  if (phase == Phase::kHead) {
    w = p.lm_head, r.scale = p.lm_head_scale, n = p.vocab, r.in = p.hidden;
  } else {
    const PersistentStepLayer& l = p.layer[layer];
    switch (phase) {
      case Phase::kQkv:
        w = l.qkv, r.scale = l.qkv_scale, n = width, r.in = p.hidden;
        break;
      case Phase::kOut:
        w = l.o, r.scale = l.o_scale, n = p.hidden, r.in = q_width;
        break;
      case Phase::kGateUp:
        w = l.gate_up, r.scale = l.gate_up_scale, n = p.intermediate, r.in = p.hidden;
        r.up_rows = p.intermediate;
        break;
      default:
        w = l.down, r.scale = l.down_scale, n = p.hidden, r.in = p.intermediate;
        break;
    }
  }
  r.w = static_cast<const std::byte*>(w);
  r.row_bytes = r.in * weight_bytes;
  r.per_stage = static_cast<int>(
      kStageBytes / r.row_bytes < kMaxStageRows ? kStageBytes / r.row_bytes : kMaxStageRows);
  if (r.up_rows) r.per_stage /= 2;
  const RowRange range =
      split_rows(n, blocks, block, layer * kPhasesPerLayer + static_cast<int>(phase));
  r.first = range.first;
  r.count = range.count;
  return r;
}

// The ring stages of one block's whole step in the order its producer issues them: the streamed
// phases of every layer (attention streams nothing), then lm_head. A phase in which the block has
// no rows has no stages.
class StageWalk {
 public:
  GLMASR_HOST_DEVICE StageWalk(const PersistentStepParams& p, int blocks, int block,
                               int weight_bytes)
      : p_(&p), blocks_(blocks), block_(block), weight_bytes_(weight_bytes) {
    load();
    settle();
  }
  GLMASR_HOST_DEVICE bool done() const { return layer_ > p_->layers; }
  GLMASR_HOST_DEVICE int layer() const { return layer_; }
  GLMASR_HOST_DEVICE Phase phase() const {
    if (layer_ == p_->layers) return Phase::kHead;
    return kind_ == 0 ? Phase::kQkv : static_cast<Phase>(kind_ + 1);  // skips kAttention
  }
  GLMASR_HOST_DEVICE int stage() const { return stage_; }  // within the phase
  GLMASR_HOST_DEVICE const BlockRows& rows() const { return rows_; }
  // The stage's weights: bytes() at src(), and for gate|up as many again at src() + up_offset().
  GLMASR_HOST_DEVICE const std::byte* src() const {
    return rows_.w + (rows_.first + int64_t{stage_} * rows_.per_stage) * rows_.row_bytes;
  }
  GLMASR_HOST_DEVICE uint32_t bytes() const {
    return static_cast<uint32_t>(rows_.rows_in(stage_) * rows_.row_bytes);
  }
  GLMASR_HOST_DEVICE int64_t up_offset() const { return rows_.up_rows * rows_.row_bytes; }
  GLMASR_HOST_DEVICE void next() {
    ++stage_;
    settle();
  }

 private:
  GLMASR_HOST_DEVICE void load() {
    rows_ = block_rows(*p_, layer_, phase(), blocks_, block_, weight_bytes_);
  }
  // Moves past finished phases (and phases without rows for this block).
  GLMASR_HOST_DEVICE void settle() {
    while (!done() && stage_ >= rows_.stages()) {
      stage_ = 0;
      if (layer_ == p_->layers) {
        ++layer_;
      } else if (++kind_ == 4) {
        kind_ = 0;
        ++layer_;
      }
      if (!done()) load();
    }
  }

  const PersistentStepParams* p_;
  int blocks_, block_, weight_bytes_;
  int layer_ = 0, kind_ = 0;  // kind_: qkv, o_proj, gate|up, down
  int stage_ = 0;
  BlockRows rows_;
};

}  // namespace glmasr::cuda::persistent_step
