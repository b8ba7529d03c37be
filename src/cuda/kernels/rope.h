// Half-split (rotate_half) RoPE on the first rotary_dim dims of each query and key head, after
// the fused QKV projection: it rotates q and k in place (or writes q elsewhere) and writes the
// rotated keys and the values into the slotted KV cache in the same pass. The decoding step
// uses the matrix-vector kernel's RoPE epilogue instead (gemv.h); this kernel serves prefill,
// the encoder and batches the matrix-vector kernel does not take.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
#include "cuda/kernels/kv_layout.h"

namespace glmasr::cuda {

// cos and sin of position * theta^(-2d/rotary_dim) for d < rotary_dim/2, computed in float32
// and rounded to the element type as transformers does: [2, positions, rotary_dim/2].
struct RopeTable {
  DeviceBuffer values;
  int positions = 0;
  int rotary_dim = 0;
  // The cos half and the sin half of `values`, each [positions, rotary_dim/2] (16-bit elements).
  const void* cos() const { return values.get(); }
  const void* sin() const {
    return values.as<std::byte>() + int64_t{positions} * (rotary_dim / 2) * 2;
  }
};
RopeTable make_rope_table(DType dtype, int positions, int rotary_dim, float theta);
// The same table on the host, as float (for tests).
void rope_table_host(int positions, int rotary_dim, float theta, DType dtype, float* cos_out,
                     float* sin_out);

struct RopeQkvParams {
  DType dtype = DType::kBF16;
  void* qkv = nullptr;  // [rows, (heads + 2 kv_heads) * head_dim]: q heads, k heads, v heads
  int64_t rows = 0;
  int heads = 0, kv_heads = 0, head_dim = 0, rotary_dim = 0;
  const RopeTable* table = nullptr;
  // Position of row r: positions[r] (device) when given, else r % position_period (when > 0)
  // plus first_position.
  const int32_t* positions = nullptr;
  int position_period = 0;
  int first_position = 0;
  void* q_out = nullptr;  // [rows, heads, head_dim] for the rotated q; null: in place
  // Optional cache write into one layer's k_cache/v_cache, laid out as kv() (max_seq positions
  // per slot); row r goes to slot slots[r] (device) or `slot`, at its position.
  void* k_cache = nullptr;
  void* v_cache = nullptr;
  int max_seq = 0;
  const int32_t* slots = nullptr;
  int slot = 0;
  GLMASR_HOST_DEVICE KvLayout kv() const {
    return {.kv_heads = kv_heads, .positions = max_seq, .head_dim = head_dim};
  }
};
void rope_qkv(const RopeQkvParams& p, cudaStream_t stream);

// The params of `rows` fused q|k|v rows of this shape rotated with `table` (whose rotary_dim
// they take); where the positions, the rotated q and the cache rows go is the caller's to add.
inline RopeQkvParams rope_qkv_params(DType dtype, void* qkv, int64_t rows, int heads, int kv_heads,
                                     int head_dim, const RopeTable& table) {
  RopeQkvParams p;
  p.dtype = dtype;
  p.qkv = qkv;
  p.rows = rows;
  p.heads = heads;
  p.kv_heads = kv_heads;
  p.head_dim = head_dim;
  p.rotary_dim = table.rotary_dim;
  p.table = &table;
  return p;
}

}  // namespace glmasr::cuda
