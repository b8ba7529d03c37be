// Softmax attention on the GPU: a tensor-core flash-attention kernel for the encoder and the
// decoder prefill, and flash-decoding for one new token per sequence against the KV cache.
// Tensors hold the element type named by the params' dtype (bf16 or fp16); scores, softmax and
// accumulation are fp32.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/dtype.h"
#include "cuda/kernels/kv_layout.h"

namespace glmasr::cuda {

// A strided 4-D view of 16-bit elements (the params' dtype): element (b, t, h, d) sits at
// ptr + b*batch_stride + t*row_stride + h*head_stride + d (strides in elements). This reads the
// fused QKV activation [tokens, heads + 2*kv_heads, hd] and the KV cache [kv_heads, max_seq, hd]
// in place. Const-ness follows use: q/k/v are only read, out is only written.
struct AttentionTensor {
  void* ptr;
  int64_t batch_stride, row_stride, head_stride;
};

// One sequence of a packed launch (FlashAttentionParams::spans): its queries are rows
// first_row .. first_row + q_len - 1 of q and out, its keys and values the first kv_len rows of
// batch entry kv_batch of k and v (a KV-cache slot).
struct FlashAttentionSpan {
  int32_t first_row, q_len, kv_batch, kv_len;
};

struct FlashAttentionParams {
  AttentionTensor q, k, v, out;
  int batch, q_len, kv_len, heads, kv_heads, head_dim;
  float scale;  // usually 1/sqrt(head_dim)
  bool causal;  // query i sees keys 0 .. kv_len - q_len + i (needs kv_len >= q_len)
  // Element type of q, k, v and out: kBF16 or kF16. After the fields that positional
  // initialisers set, so those still compile (and mean bf16).
  DType dtype = DType::kBF16;
  // Packed sequences of different lengths in one launch (the prefill of several prompts): when
  // set, batch entry b is the device-resident spans[b], q and out are read as one run of rows
  // (their batch_stride is ignored), and q_len / kv_len are the largest of the spans' (they size
  // the grid; each span's lengths are clamped to them). Causal spans need kv_len >= q_len. The
  // mma.sync and generic kernels take spans; the wgmma kernel does not.
  const FlashAttentionSpan* spans = nullptr;
};

// out = softmax(q kᵀ * scale) v per (batch, head); q head h reads kv head h / (heads / kv_heads).
// On sm_90, head_dim 64 without a causal mask (the encoder) runs on warpgroup MMA; other
// head_dim 64 and 128 with 16-byte aligned pointers and strides divisible by 8 run on the tensor
// cores (mma.sync); any other even head_dim <= 128 (the tiny test models use 12 and 16) runs on a
// slower generic kernel. Throws glmasr::Error for unsupported arguments.
void flash_attention(const FlashAttentionParams& p, cudaStream_t stream);

struct DecodeAttentionParams {
  const void* q;           // [batch, heads, head_dim] contiguous: one new token per sequence
  const void* k_cache;     // one layer, laid out as kv()
  const void* v_cache;     // same layout
  const int* slot_of_seq;  // device [batch]: the cache slot of each sequence
  const int* seq_len;      // device [batch]: keys to attend, the new token included (clamped to
                           // max_seq; 0 gives a zero output)
  void* out;               // [batch, heads, head_dim] contiguous
  float* workspace;        // decode_attention_workspace_bytes(); needs no initialisation (the
                           // current kernel does not touch it, but it must be set)
  int batch, heads, kv_heads, head_dim, max_seq;
  float scale;
  // Element type of q, the caches and out: kBF16 or kF16. After the fields that positional
  // initialisers set, so those still compile (and mean bf16).
  DType dtype = DType::kBF16;
  // Percent of each SM's shared memory (the rest is L1) the launch asks for; -1: the driver's
  // choice. Only the scheduling changes: which kernels' blocks may share an SM.
  int shared_carveout = -1;
  GLMASR_HOST_DEVICE KvLayout kv() const {
    return {.kv_heads = kv_heads, .positions = max_seq, .head_dim = head_dim};
  }
};

// Flash-decoding in one launch: a thread-block cluster per (sequence, kv head), or per
// (sequence, q head) when that grid would leave SMs idle (batch 1), splits the sequence's
// current length (read on the device) between its blocks and merges their partial softmax
// results through distributed shared memory. The grid depends on batch, kv_heads and
// max_seq only, so a launch captured in a CUDA graph stays valid while the lengths in device
// memory change. head_dim must be even and <= 128, heads / kv_heads <= 8. Needs a GPU with
// thread-block clusters (compute capability 9.0+).
// It is a programmatic dependent launch that reads seq_len, slot_of_seq and every cache row but
// the newest (position seq_len - 1) BEFORE waiting for the kernel ahead of it: only q and the
// newest K/V row may be written by that kernel (the QKV projection of the same layer); anything
// else it reads must be written by the host or by kernels that finished earlier.
size_t decode_attention_workspace_bytes(int batch, int heads, int head_dim, int max_seq);
void decode_attention(const DecodeAttentionParams& p, cudaStream_t stream);

namespace detail {
// The generic (CUDA-core) kernel behind flash_attention, callable directly so that tests can
// compare both paths on the shapes the tensor-core kernel serves.
void flash_attention_generic(const FlashAttentionParams& p, cudaStream_t stream);
// The tensor-core kernel with a chosen number of query rows per warp (16, or 32 for head_dim
// 64), for tests and timings; throws where that kernel cannot serve the parameters.
void flash_attention_tensor_cores(const FlashAttentionParams& p, int rows_per_warp,
                                  cudaStream_t stream);
// True when flash_attention would pick the mma.sync tensor-core kernel for these parameters
// (unless the wgmma kernel takes them first).
bool flash_attention_uses_tensor_cores(const FlashAttentionParams& p);
// The warpgroup-MMA kernel (sm_90: head_dim 64, no causal mask, tensor-map-able views), which
// flash_attention picks first where it applies; groups of 64 query rows per block: 2 or 3.
bool flash_attention_uses_wgmma(const FlashAttentionParams& p);
void flash_attention_wgmma(const FlashAttentionParams& p, int groups, cudaStream_t stream);
// decode_attention's two kernels: keys loaded into registers, the first tile before the wait for
// the kernel ahead (latency: few sequences), or streamed through a ring of shared-memory stages
// (bandwidth: once one block per sequence and kv head fills the GPU); and which one it takes.
enum class DecodeKernel { kRegisters, kStaged };
DecodeKernel decode_attention_kernel(const DecodeAttentionParams& p);
// decode_attention with a chosen kernel, number of blocks per (sequence, kv head), 1..16, for
// tests and timings (above 8 the cluster size is non-portable and may fail to launch), and q
// heads per block: 0 chooses as decode_attention does, else the group or (register kernel only)
// a power-of-two divisor of it. The staged kernel needs head_dim % 8 == 0 and 16-byte alignment.
void decode_attention_with_splits(const DecodeAttentionParams& p, int splits, cudaStream_t stream,
                                  int heads_per_block = 0,
                                  DecodeKernel kernel = DecodeKernel::kRegisters);
}  // namespace detail

}  // namespace glmasr::cuda
