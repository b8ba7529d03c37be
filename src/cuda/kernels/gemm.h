// Dense projections through cuBLASLt with float32 accumulation: y = x W^T (+ bias) (+ y).
// Plans (layouts and the heuristic's algorithm) are made once per shape and reused, so repeated
// calls, graph capture included, only launch.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

#include "core/dtype.h"
#include "cuda/device_buffer.h"

namespace glmasr::cuda {

class Gemm {
 public:
  explicit Gemm(DType dtype, size_t workspace_bytes = size_t{32} << 20);
  ~Gemm();
  Gemm(const Gemm&) = delete;
  Gemm& operator=(const Gemm&) = delete;

  // x [rows, in] (row stride ldx, 0 = in), w [out, in], bias [out] or null,
  // y [rows, out] (row stride ldy, 0 = out). accumulate adds the previous y (a residual) before
  // the single rounding to the element type.
  void run(const void* x, int64_t rows, int64_t in, const void* w, int64_t out, const void* bias,
           void* y, bool accumulate, cudaStream_t stream, int64_t ldx = 0, int64_t ldy = 0);
  // y = gelu(x W^T + bias) in cuBLASLt's GELU epilogue, which is the tanh form of GELU applied
  // to the fp32 accumulator (see gemm_gelu.h for how it compares with the exact form).
  void run_gelu(const void* x, int64_t rows, int64_t in, const void* w, int64_t out,
                const void* bias, void* y, cudaStream_t stream);

  DType dtype() const { return dtype_; }

 private:
  struct Plan;
  // rows, in, out, ldx, ldy, bias, accumulate, gelu
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, bool>;
  Plan& plan_for(const Key& key);
  void launch(const Key& key, const void* x, const void* w, const void* bias, void* y,
              cudaStream_t stream);

  DType dtype_;
  void* handle_ = nullptr;  // cublasLtHandle_t
  DeviceBuffer workspace_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace glmasr::cuda
