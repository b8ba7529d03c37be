#include "cuda/kernels/gemm_gelu.h"

#include "cuda/kernels/gelu.h"

namespace glmasr::cuda {

void gemm_gelu(Gemm& gemm, GeluPlacement placement, const void* x, int64_t rows, int64_t in,
               const void* w, int64_t out, const void* bias, void* y, cudaStream_t stream) {
  if (placement == GeluPlacement::kGemmEpilogue) {
    gemm.run_gelu(x, rows, in, w, out, bias, y, stream);
    return;
  }
  gemm.run(x, rows, in, w, out, bias, y, false, stream);
  gelu(gemm.dtype(), y, rows, out, nullptr, stream);
}

}  // namespace glmasr::cuda
