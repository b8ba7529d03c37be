// The RoPE + KV-cache epilogue of a decoding step's fused QKV projection (rotary dim = head_dim,
// half-split), shared by the matrix-vector kernel (gemv.h) and the skinny-batch kernel
// (skinny_gemm.h): a block owns pairs of rows (d, d + head_dim/2) of q/k heads, so each rotated
// pair is computed where both halves are reduced; q goes to q_out and k/v straight into the
// cache slot at the sequence's position (read on the device, so a captured graph stays valid
// while positions change). It replaces the product's q|k|v output and the rope_qkv kernel after
// it, with the same roundings.
#pragma once

#include <cstdint>

#include "cuda/kernels/kv_layout.h"

namespace glmasr::cuda {

struct QkvRopeEpilogue {
  int heads = 0, kv_heads = 0, head_dim = 0;  // head_dim 0: no epilogue
  const void* cos = nullptr;                  // [table_positions, head_dim/2] in the element type
  const void* sin = nullptr;                  // same
  const int32_t* positions = nullptr;         // device [batch]: position of each row (< table)
  const int32_t* slots = nullptr;             // device [batch]: cache slot of each row
  void* q_out = nullptr;                      // [batch, heads * head_dim]
  void* k_cache = nullptr;                    // one layer, laid out as kv()
  void* v_cache = nullptr;                    // same
  int max_seq = 0;                            // positions per slot
  GLMASR_HOST_DEVICE KvLayout kv() const {
    return {.kv_heads = kv_heads, .positions = max_seq, .head_dim = head_dim};
  }
  // The projection's output rows: q heads, k heads, v heads.
  GLMASR_HOST_DEVICE int64_t rows() const { return int64_t{heads + 2 * kv_heads} * head_dim; }
  // Rotated (d, d + head_dim/2) row pairs: those of the q and k heads.
  GLMASR_HOST_DEVICE int64_t pairs() const { return int64_t{heads + kv_heads} * (head_dim / 2); }
};

}  // namespace glmasr::cuda
