// glmasr bench --overlap: how much of a batch of decoding steps hides under an encoder batch
// when the two run on streams of their own (the engine loop runs them one after the other: an
// admission's encoder batch, then steps). The encoder is compute-bound and the steps read
// weights and K/V, so the GPU may run both at once faster than in turn; what it gains decides
// whether admissions should encode beside the running steps. Timed as the median of `runs`
// rounds: the encoder batch alone, the steps alone, both at once (steps on a stream of normal
// priority and of the highest).
#ifdef GLMASR_HAVE_CUDA
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_common.h"
#include "cuda/check.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/engine/encoder_runner.h"
#include "cuda/kernels/gemm.h"

namespace glmasr::cli::bench {
namespace {

struct Streams {
  cudaStream_t encoder = nullptr, steps = nullptr;
};

// Milliseconds from the first of `streams`' work to the last, each running its own work.
double span_ms(const Streams& s, const std::function<void()>& on_encoder,
               const std::function<void()>& on_steps) {
  cudaEvent_t start, steps_done, end;
  for (cudaEvent_t* e : {&start, &steps_done, &end}) GLMASR_CUDA_CHECK(cudaEventCreate(e));
  GLMASR_CUDA_CHECK(cudaEventRecord(start, s.encoder));
  GLMASR_CUDA_CHECK(cudaStreamWaitEvent(s.steps, start));
  if (on_encoder) on_encoder();
  if (on_steps) on_steps();
  GLMASR_CUDA_CHECK(cudaEventRecord(steps_done, s.steps));
  GLMASR_CUDA_CHECK(cudaStreamWaitEvent(s.encoder, steps_done));
  GLMASR_CUDA_CHECK(cudaEventRecord(end, s.encoder));
  GLMASR_CUDA_CHECK(cudaEventSynchronize(end));
  float ms = 0;
  GLMASR_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
  for (cudaEvent_t e : {start, steps_done, end}) cudaEventDestroy(e);
  return ms;
}

}  // namespace

void bench_overlap(int runs) {
  constexpr int kWindows = 8, kBatch = 128, kPosition = 450;
  const ModelConfig config = real_config();
  const DType dtype = DType::kBF16;
  auto model = cuda::random_model(config, dtype, 99);
  int least = 0, greatest = 0;
  GLMASR_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  cudaStream_t encoder_stream, normal_steps, urgent_steps;
  GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&encoder_stream, cudaStreamNonBlocking));
  GLMASR_CUDA_CHECK(cudaStreamCreateWithPriority(&normal_steps, cudaStreamNonBlocking, least));
  GLMASR_CUDA_CHECK(cudaStreamCreateWithPriority(&urgent_steps, cudaStreamNonBlocking, greatest));
  {
    // A GEMM workspace each: the two streams' products run at once.
    cuda::Gemm encoder_gemm(dtype), decoder_gemm(dtype);
    cuda::EncoderRunner encoder(*model, encoder_gemm, kWindows, encoder_stream);
    auto run_with = [&](cudaStream_t steps_stream, const char* label) {
      cuda::DecoderRunner decoder(*model, decoder_gemm, kBatch, 1024, 4096, steps_stream);
      prefill_slots(decoder, kBatch, kPosition);
      std::vector<cuda::SequenceStep> steps;
      for (int b = 0; b < kBatch; ++b) steps.push_back({b, 1000, kPosition});
      decoder.upload_step(steps);
      decoder.choose_step_kernels(kBatch);
      decoder.launch_step_graph(kBatch);  // captured here, outside the timing
      GLMASR_CUDA_CHECK(cudaStreamSynchronize(steps_stream));
      const Streams s{encoder_stream, steps_stream};
      auto encode = [&] { encoder.run(kWindows); };
      std::vector<double> alone_encoder, alone_step;
      for (int r = 0; r < runs; ++r) {
        alone_encoder.push_back(span_ms(s, encode, nullptr));
        alone_step.push_back(span_ms(s, nullptr, [&] { decoder.launch_step_graph(kBatch); }));
      }
      const double encoder_ms = median(alone_encoder), step_ms = median(alone_step);
      // As many steps as fit the encoder batch's time.
      const int count = std::max(1, static_cast<int>(encoder_ms / step_ms));
      auto steps_work = [&] {
        for (int i = 0; i < count; ++i) decoder.launch_step_graph(kBatch);
      };
      std::vector<double> alone_steps, both;
      for (int r = 0; r < runs; ++r) {
        alone_steps.push_back(span_ms(s, nullptr, steps_work));
        both.push_back(span_ms(s, encode, steps_work));
      }
      const double steps_ms = median(alone_steps), both_ms = median(both);
      std::printf("%-34s %10.3f %8d %10.3f %12.3f %10.3f %9.0f%%\n", label, encoder_ms, count,
                  steps_ms, encoder_ms + steps_ms, both_ms,
                  100.0 * (encoder_ms + steps_ms - both_ms) / steps_ms);
    };
    std::printf(
        "\n== an encoder batch (%d windows) beside decoding steps (batch %d, position %d), bf16\n",
        kWindows, kBatch, kPosition);
    std::printf("%-34s %10s %8s %10s %12s %10s %10s\n", "steps' stream", "encoder ms", "steps",
                "steps ms", "in turn ms", "at once ms", "hidden");
    run_with(normal_steps, "normal priority");
    run_with(urgent_steps, "highest priority");
    std::printf("(hidden: the share of the steps' time that running at once saved)\n");
  }
  for (cudaStream_t s : {encoder_stream, normal_steps, urgent_steps}) cudaStreamDestroy(s);
}

}  // namespace glmasr::cli::bench

#endif  // GLMASR_HAVE_CUDA
