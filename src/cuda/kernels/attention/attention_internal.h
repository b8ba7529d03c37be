// Pieces shared by the attention sources: argument checks and the per-kernel launchers that
// flash_attention() picks between.
#pragma once

#include "cuda/kernels/attention/attention.h"

namespace glmasr::cuda::attention_internal {

// Throw glmasr::Error naming the bad argument ("expected X, got Y").
void check_flash_params(const FlashAttentionParams& p);
void check_decode_params(const DecodeAttentionParams& p);

// Largest head_dim any kernel handles, and the largest q heads per kv head in decode.
constexpr int kMaxHeadDim = 128;
constexpr int kMaxDecodeGroup = 8;
// Blocks (one thread-block cluster) that share the keys of one (sequence, kv head) in
// decode_attention; depends on its arguments only, so a captured graph stays valid.
int decode_attention_splits(int batch, int kv_heads, int max_seq);
// q heads each block serves: the group of a kv head, or a divisor of it when the grid is small.
int decode_attention_heads_per_block(int batch, int heads, int kv_heads, int splits);
// True when decode_attention streams the keys through shared-memory stages (many sequences).
bool decode_attention_staged(const DecodeAttentionParams& p);

// Launchers; the parameters are already checked.
// rows_per_warp: 16 (head_dim 64 or 128) or 32 (head_dim 64: each K/V fragment read from shared
// memory feeds two row tiles).
void launch_flash_attention_mma(const FlashAttentionParams& p, cudaStream_t stream,
                                int rows_per_warp);
void launch_flash_attention_generic(const FlashAttentionParams& p, cudaStream_t stream);
// The warpgroup-MMA kernel (flash_attention_wgmma.cu): head_dim 64 without a causal mask on an
// sm_90 GPU, views a tensor map can describe. groups: consumer warpgroups per block, 2 or 3
// (64 query rows each), or 0 for flash_attention_wgmma_groups(p).
bool flash_attention_wgmma_supported(const FlashAttentionParams& p);
int flash_attention_wgmma_groups(const FlashAttentionParams& p);
void launch_flash_attention_wgmma(const FlashAttentionParams& p, cudaStream_t stream, int groups);

}  // namespace glmasr::cuda::attention_internal
