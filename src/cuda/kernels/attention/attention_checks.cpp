// Host-side argument checks for the attention kernels: a wrong shape must fail loudly before a
// kernel reads out of bounds.
#include <cmath>
#include <cstdint>

#include "core/dtype.h"
#include "core/error.h"
#include "cuda/kernels/attention/attention_internal.h"

namespace glmasr::cuda::attention_internal {
namespace {

void check_head_dim(const char* who, int head_dim) {
  GLMASR_CHECK(head_dim >= 2 && head_dim <= kMaxHeadDim && head_dim % 2 == 0, who,
               ": head_dim: expected an even value in [2, ", kMaxHeadDim, "], got ", head_dim);
}

// The kernels are instantiated for the two 16-bit element types the engine computes in.
void check_dtype(const char* who, DType dtype) {
  GLMASR_CHECK(dtype == DType::kBF16 || dtype == DType::kF16, who,
               ": dtype: expected bf16 or fp16, got ", dtype_name(dtype));
}

void check_heads(const char* who, int heads, int kv_heads) {
  GLMASR_CHECK(heads >= 1 && kv_heads >= 1, who, ": heads/kv_heads: expected >= 1, got ", heads,
               "/", kv_heads);
  GLMASR_CHECK(heads % kv_heads == 0, who,
               ": heads % kv_heads: expected 0 (grouped-query attention), got heads ", heads,
               " and kv_heads ", kv_heads);
}

// The generic kernel reads element pairs, so every element offset it forms must stay even.
void check_tensor(const char* name, const AttentionTensor& t) {
  GLMASR_CHECK(t.ptr != nullptr, "flash_attention: ", name,
               ".ptr: expected a device pointer, got null");
  GLMASR_CHECK(reinterpret_cast<uintptr_t>(t.ptr) % 4 == 0, "flash_attention: ", name,
               ".ptr: expected 4-byte alignment, got address ", t.ptr);
  GLMASR_CHECK(t.batch_stride % 2 == 0 && t.row_stride % 2 == 0 && t.head_stride % 2 == 0,
               "flash_attention: ", name, ": expected even strides, got batch ", t.batch_stride,
               ", row ", t.row_stride, ", head ", t.head_stride);
  GLMASR_CHECK(t.batch_stride >= 0 && t.row_stride >= 0 && t.head_stride >= 0,
               "flash_attention: ", name, ": expected non-negative strides, got batch ",
               t.batch_stride, ", row ", t.row_stride, ", head ", t.head_stride);
}

}  // namespace

void check_flash_params(const FlashAttentionParams& p) {
  check_dtype("flash_attention", p.dtype);
  check_head_dim("flash_attention", p.head_dim);
  check_heads("flash_attention", p.heads, p.kv_heads);
  GLMASR_CHECK(p.batch >= 1 && p.batch <= 65535, "flash_attention: batch: expected 1..65535, got ",
               p.batch);
  GLMASR_CHECK(p.heads <= 65535, "flash_attention: heads: expected <= 65535, got ", p.heads);
  GLMASR_CHECK(p.q_len >= 1 && p.kv_len >= 1, "flash_attention: q_len/kv_len: expected >= 1, got ",
               p.q_len, "/", p.kv_len);
  GLMASR_CHECK(!p.causal || p.kv_len >= p.q_len,
               "flash_attention: causal attention needs kv_len >= q_len (the queries are the last "
               "q_len positions), got q_len ",
               p.q_len, " and kv_len ", p.kv_len);
  GLMASR_CHECK(p.scale > 0.0f && std::isfinite(p.scale),
               "flash_attention: scale: expected a positive finite value, got ", p.scale);
  check_tensor("q", p.q);
  check_tensor("k", p.k);
  check_tensor("v", p.v);
  check_tensor("out", p.out);
}

void check_decode_params(const DecodeAttentionParams& p) {
  check_dtype("decode_attention", p.dtype);
  GLMASR_CHECK(p.shared_carveout >= -1 && p.shared_carveout <= 100,
               "decode_attention: shared_carveout: expected -1 (the driver's choice) or a percent "
               "0..100, got ",
               p.shared_carveout);
  check_head_dim("decode_attention", p.head_dim);
  check_heads("decode_attention", p.heads, p.kv_heads);
  GLMASR_CHECK(p.heads / p.kv_heads <= kMaxDecodeGroup,
               "decode_attention: heads / kv_heads: expected <= ", kMaxDecodeGroup, ", got ",
               p.heads / p.kv_heads);
  GLMASR_CHECK(p.batch >= 1 && p.batch <= 65535, "decode_attention: batch: expected 1..65535, got ",
               p.batch);
  GLMASR_CHECK(p.kv_heads <= 65535, "decode_attention: kv_heads: expected <= 65535, got ",
               p.kv_heads);
  GLMASR_CHECK(p.scale > 0.0f && std::isfinite(p.scale),
               "decode_attention: scale: expected a positive finite value, got ", p.scale);
  GLMASR_CHECK(p.max_seq >= 1, "decode_attention: max_seq: expected >= 1, got ", p.max_seq);
  GLMASR_CHECK(p.q && p.k_cache && p.v_cache && p.slot_of_seq && p.seq_len && p.out && p.workspace,
               "decode_attention: expected every pointer (q, k_cache, v_cache, slot_of_seq, "
               "seq_len, out, workspace) to be set, got a null one");
  for (const void* ptr : {p.q, p.k_cache, p.v_cache, static_cast<const void*>(p.out)})
    GLMASR_CHECK(reinterpret_cast<uintptr_t>(ptr) % 4 == 0,
                 "decode_attention: expected 4-byte aligned tensors, got address ", ptr);
}

}  // namespace glmasr::cuda::attention_internal
