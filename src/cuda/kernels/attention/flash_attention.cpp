// flash_attention(): checks the arguments and picks the kernel: warpgroup MMA (Hopper, the
// encoder's shape), mma.sync tensor cores, or the generic one.
#include <cstdint>

#include "core/error.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/attention/attention_internal.h"

namespace glmasr::cuda {
namespace {

// cp.async moves 16-byte pieces: every row start must be 16-byte aligned.
bool is_16_byte_tileable(const AttentionTensor& t) {
  return reinterpret_cast<uintptr_t>(t.ptr) % 16 == 0 && t.batch_stride % 8 == 0 &&
         t.row_stride % 8 == 0 && t.head_stride % 8 == 0;
}

// Query rows per warp of the tensor-core kernel. At head_dim 64, 32 rows (each K/V fragment
// read from shared memory feeds two row tiles) ran one encoder window in 59 us against 71 us
// with 16 rows (H100). Head_dim 128 has no register room for 32.
int default_rows_per_warp(int head_dim) {
  return head_dim == 64 ? 32 : 16;
}

}  // namespace

namespace detail {

bool flash_attention_uses_tensor_cores(const FlashAttentionParams& p) {
  return (p.head_dim == 64 || p.head_dim == 128) && is_16_byte_tileable(p.q) &&
         is_16_byte_tileable(p.k) && is_16_byte_tileable(p.v) && is_16_byte_tileable(p.out);
}

void flash_attention_tensor_cores(const FlashAttentionParams& p, int rows_per_warp,
                                  cudaStream_t stream) {
  attention_internal::check_flash_params(p);
  GLMASR_CHECK(flash_attention_uses_tensor_cores(p),
               "flash_attention_tensor_cores: expected head_dim 64 or 128 with 16-byte aligned "
               "pointers and strides divisible by 8, got head_dim ",
               p.head_dim);
  attention_internal::launch_flash_attention_mma(p, stream, rows_per_warp);
}

bool flash_attention_uses_wgmma(const FlashAttentionParams& p) {
  return attention_internal::flash_attention_wgmma_supported(p);
}

void flash_attention_wgmma(const FlashAttentionParams& p, int groups, cudaStream_t stream) {
  attention_internal::check_flash_params(p);
  attention_internal::launch_flash_attention_wgmma(p, stream, groups);
}

void flash_attention_generic(const FlashAttentionParams& p, cudaStream_t stream) {
  attention_internal::check_flash_params(p);
  attention_internal::launch_flash_attention_generic(p, stream);
}

}  // namespace detail

void flash_attention(const FlashAttentionParams& p, cudaStream_t stream) {
  attention_internal::check_flash_params(p);
  if (detail::flash_attention_uses_wgmma(p))
    attention_internal::launch_flash_attention_wgmma(p, stream, 0);
  else if (detail::flash_attention_uses_tensor_cores(p))
    attention_internal::launch_flash_attention_mma(p, stream, default_rows_per_warp(p.head_dim));
  else
    attention_internal::launch_flash_attention_generic(p, stream);
}

}  // namespace glmasr::cuda
