// What the `glmasr bench` cases share: device timing (CUDA events, median after a warm-up), the
// benchmarked model shapes, and the report that --json writes. CUDA builds only.
#pragma once

#ifdef GLMASR_HAVE_CUDA
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "engine/engine_options.h"
#include "model/config.h"

namespace glmasr::cuda {
class DecoderRunner;
}

namespace glmasr::cli::bench {

double median(std::vector<double> values);

// Times device work on one stream with a reusable pair of CUDA events.
class Timer {
 public:
  explicit Timer(cudaStream_t stream);
  ~Timer();
  Timer(const Timer&) = delete;
  Timer& operator=(const Timer&) = delete;
  // Median milliseconds of `runs` executions of `work` (after `warmup` untimed ones).
  double median_ms(const std::function<void()>& work, int runs, int warmup = 3);
  // The same for work captured once into a CUDA graph and replayed.
  double graph_median_ms(const std::function<void()>& enqueue, int runs);
  // Milliseconds per call of `calls` executions of `work` enqueued back to back, timed as one.
  double back_to_back_ms(const std::function<void()>& work, int calls);
  cudaStream_t stream() const { return stream_; }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_, stop_;
};

// Values by key (milliseconds unless the key says otherwise), written by --json for bench/run.sh.
struct Report {
  std::map<std::string, double> values;
  void set(const std::string& key, double value) { values[key] = value; }
};

// The GLM-ASR-Nano-2512 shapes, and the seed report's decoder shape (its encoder shrunk to a
// token size: it is not timed).
ModelConfig real_config();
ModelConfig seed_config();

// Device-to-device copy bandwidth (read + write) in GB/s: the floor the step is measured against.
double copy_bandwidth_gbs(Timer& timer);

// `count` text token ids below the special ids.
std::vector<int32_t> text_ids(int count, uint32_t seed);

// Slots 0..slots-1 of `decoder` filled with `position` text tokens each, by packed prefills of
// up to 8 prompts: the caches a step at that position reads.
void prefill_slots(cuda::DecoderRunner& decoder, int slots, int position);

// The cases (bench_decoder.cpp, bench_end_to_end.cpp, bench_attention.cpp).
// Decoding step, its components, and the matrix-vector kernel against cuBLASLt (fp8 weights:
// the matrix-vector kernel alone; cuBLASLt has no such bf16 x fp8 product).
void bench_decoder(const std::string& label, const ModelConfig& config, DType dtype, int position,
                   bool with_head, int runs, double copy_gbs, Report& report, Timer& timer,
                   WeightFormat weights = WeightFormat::kBF16);
// Encoder + projector on one 30 s window, prefill of 390 tokens, 30 s of audio to 100 tokens.
void bench_end_to_end(int runs, Report& report, Timer& timer);
// The decoding step at batch 1..256 (450 positions each): time, bytes, attention's share.
void bench_batch_sweep(WeightFormat weights, int runs, double copy_gbs, Report& report,
                       Timer& timer);
// An encoder batch and decoding steps on streams of their own, in turn and at once.
void bench_overlap(int runs);
// The attention kernels alone (encoder window, prefill, decode per cluster size); returns false
// when one is far (10x) off its target: a kernel that fell off its fast path.
bool bench_attention(int runs, Report& report, Timer& timer);

}  // namespace glmasr::cli::bench

#endif  // GLMASR_HAVE_CUDA
