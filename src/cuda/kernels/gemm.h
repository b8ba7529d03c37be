// Dense projections through cuBLASLt with float32 accumulation: y = x W^T (+ bias) (+ y).
// Plans (layouts and the heuristic's algorithm) are made once per shape and reused, so repeated
// calls, graph capture included, only launch.
//
// cuBLASLt loads an algorithm's kernel on its first launch: 2-7 ms of host time inside
// cublasLtMatmul that the GPU idles through (measured on the H200, docs/performance.md session
// 15; it is neither CUDA's lazy module loading nor the heuristic, which costs ~0.15 ms). Nearly
// every new row count gets an algorithm not seen before, so a run that meets new shapes (packed
// prefills of any length, decoding steps of any batch) pays it again and again. The engine
// therefore launches the shapes it expects while the weights upload, then calls
// use_loaded_kernels_for_new_shapes(): from then on a shape first seen takes the heuristic's
// best algorithm whose kernel is already loaded, when one is among its kStandInCandidates best.
#pragma once

#include <cuda_runtime.h>

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>
#include <vector>

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

  // See the top of this file. Shapes planned before keep the heuristic's best algorithm.
  void use_loaded_kernels_for_new_shapes() { prefer_loaded_ = true; }

  struct Stats {
    int plans = 0;               // shapes planned
    int stand_ins = 0;           // of which took a loaded kernel other than the heuristic's best
    int kernels_loaded = 0;      // distinct algorithms launched
    double first_launch_ms = 0;  // host time of those first launches
  };
  const Stats& stats() const { return stats_; }

  // How many of the heuristic's best algorithms a new shape looks through for a loaded kernel.
  static constexpr int kStandInCandidates = 8;

 private:
  struct Plan;
  // rows, in, out, ldx, ldy, bias, accumulate, gelu
  using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool, bool>;
  Plan& plan_for(const Key& key);
  bool loaded(const void* algo) const;
  void launch(const Key& key, const void* x, const void* w, const void* bias, void* y,
              cudaStream_t stream);

  DType dtype_;
  void* handle_ = nullptr;  // cublasLtHandle_t
  DeviceBuffer workspace_;
  std::map<Key, std::unique_ptr<Plan>> plans_;
  std::vector<std::array<uint64_t, 8>> loaded_;  // the algorithms launched (cublasLtMatmulAlgo_t)
  bool prefer_loaded_ = false;
  bool log_ = false;  // GLMASR_GEMM_LOG set: each plan and each kernel's first launch to stderr
  Stats stats_;
};

}  // namespace glmasr::cuda
