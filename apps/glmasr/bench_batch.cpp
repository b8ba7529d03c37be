// glmasr bench --batch-sweep: the decoding step at the batch sizes long-form transcription runs
// (up to 256 sequences), each sequence 450 positions into its slot (a 30 s segment's prompt and
// some 60 tokens): what a step costs, the bytes it must read (weights once, every sequence's
// K/V), and how the time splits between the projections and the attention over the cache.
#ifdef GLMASR_HAVE_CUDA
#include <cstdio>
#include <string>
#include <vector>

#include "bench_common.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/gemm.h"

namespace glmasr::cli::bench {

void bench_batch_sweep(WeightFormat weights, int runs, double copy_gbs, Report& report,
                       Timer& timer) {
  constexpr int kMaxBatch = 256, kPosition = 450;
  const ModelConfig config = real_config();
  const DecoderConfig& dec = config.decoder;
  const DType dtype = DType::kBF16;
  auto model = cuda::random_model(config, dtype, 4321, weights);
  const bool fp8 = weights == WeightFormat::kFP8;
  cuda::Gemm gemm(dtype);
  cuda::DecoderRunner decoder(*model, gemm, kMaxBatch, 1024, 4096, timer.stream());
  prefill_slots(decoder, kMaxBatch, kPosition);
  // Weights once per step (fp8: the steps whose products take cuBLASLt read its element-type
  // copy, step_weight_bytes).
  const double weight_bytes = double(model->decoder_bytes);
  const double kv_bytes_per_sequence =
      2.0 * dec.num_layers * dec.num_kv_heads * double(kPosition) * dec.head_dim * 2;
  const unsigned attention = cuda::kStageAttention;
  char copy[64] = "";
  if (fp8)
    std::snprintf(copy, sizeof copy, " (on cuBLASLt its %.2f GB dequantized copy)",
                  double(model->decoder_gemm_bytes) / 1e9);
  std::printf(
      "\n== decoding step by batch, position %d (bf16%s): weights %.2f GB once per step%s, K/V "
      "%.1f MB per sequence\n",
      kPosition, fp8 ? ", fp8 weights" : "", weight_bytes / 1e9, copy, kv_bytes_per_sequence / 1e6);
  std::printf("%6s %10s %12s %12s %10s %14s %14s\n", "batch", "step ms", "us/sequence", "tokens/s",
              "GB/s", "attention ms", "the rest ms");
  for (int batch : {1, 2, 4, 8, 16, 32, 64, 128, 256}) {
    std::vector<cuda::SequenceStep> steps;
    for (int b = 0; b < batch; ++b) steps.push_back({b, 1000, kPosition});
    decoder.upload_step(steps);
    // What the engine does before capturing the step: its kernels chosen (for batch 1, the
    // persistent kernel or the graph of kernels).
    decoder.choose_step_kernels(batch);
    if (batch == 1) decoder.single_step_persistent();
    const double step =
        timer.graph_median_ms([&] { decoder.enqueue_step(batch, cuda::kStageAll); }, runs);
    const double without_attention = timer.graph_median_ms(
        [&] { decoder.enqueue_step(batch, cuda::kStageAll & ~attention); }, runs);
    const double bytes = double(decoder.step_weight_bytes(batch)) + batch * kv_bytes_per_sequence;
    std::printf("%6d %10.3f %12.1f %12.0f %10.0f %14.3f %14.3f\n", batch, step, 1e3 * step / batch,
                batch / (step * 1e-3), bytes / (step * 1e-3) / 1e9, step - without_attention,
                without_attention);
    const std::string key = std::string(fp8 ? "fp8." : "") + "batch" + std::to_string(batch);
    report.set(key + ".step_ms", step);
    report.set(key + ".attention_ms", step - without_attention);
  }
  std::printf("(GB/s: weights + K/V per step over the step time; copy bandwidth %.0f GB/s)\n",
              copy_gbs);
}

}  // namespace glmasr::cli::bench

#endif  // GLMASR_HAVE_CUDA
