// glmasr bench, the pipeline on one 30 s window: encoder + projector, the prefill of its prompt,
// and 30 s of audio to exactly 100 tokens (mel on the host, encoder, prefill, graph steps; wall
// clock).
#ifdef GLMASR_HAVE_CUDA
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "audio/features.h"
#include "audio/mel.h"
#include "bench_common.h"
#include "core/stopwatch.h"
#include "cuda/check.h"
#include "cuda/device_buffer.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/engine/encoder_runner.h"
#include "cuda/kernels/gemm.h"
#include "model/audio_tokens.h"

namespace glmasr::cli::bench {

namespace {

// Each stage's cost in the encoder: the batch's time minus its time without that stage (the
// stages run one after another, so this is the stage's own time plus any gap it causes).
void encoder_stage_table(cuda::EncoderRunner& encoder, int windows, double all_ms, int runs,
                         Timer& timer, Report& report) {
  const std::pair<const char*, unsigned> stages[] = {
      {"conv stem", cuda::kEncoderStem},
      {"layer norms", cuda::kEncoderNorms},
      {"qkv", cuda::kEncoderQkv},
      {"rope", cuda::kEncoderRope},
      {"attention", cuda::kEncoderAttention},
      {"o_proj", cuda::kEncoderOut},
      {"fc1", cuda::kEncoderFc1},
      {"gelu", cuda::kEncoderGelu},
      {"fc2", cuda::kEncoderFc2},
      {"projector", cuda::kEncoderProjector},
  };
  std::printf("encoder stages, %d windows (ms per window in the encoder):", windows);
  double sum = 0;
  for (const auto& [name, stage] : stages) {
    const double without =
        timer.median_ms([&] { encoder.run(windows, cuda::kEncoderAll & ~stage); }, runs);
    const double per_window = (all_ms - without) / windows;
    sum += per_window;
    std::printf(" %s %.3f,", name, per_window);
    report.set(std::string("encoder_stage.") + name + "_ms_per_window", per_window);
  }
  std::printf(" sum %.3f of %.3f\n", sum, all_ms / windows);
}

}  // namespace

void bench_end_to_end(int runs, Report& report, Timer& timer) {
  cudaStream_t stream = timer.stream();
  const ModelConfig config = real_config();
  const DType dtype = DType::kBF16;
  auto model = cuda::random_model(config, dtype, 99);
  cuda::Gemm gemm(dtype);
  cuda::EncoderRunner encoder(*model, gemm, 1, stream);
  const EncoderConfig& enc = config.encoder;
  // 30 s of a synthetic signal (two tones and noise) -> log-mel on the host, as transcribe does.
  std::vector<float> samples(kWindowSamples);
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.05f);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i] = 0.3f * std::sin(0.05f * i) + 0.2f * std::sin(0.013f * i) + noise(rng);
  const LogMelExtractor extractor(enc.num_mel_bins, 8);
  MelWindows mel = extractor.compute(samples);
  GLMASR_CUDA_CHECK(cudaMemcpy(encoder.mel_input(), mel.features.data(),
                               mel.features.numel() * sizeof(float), cudaMemcpyHostToDevice));

  // Encoder + projector, one window.
  const double encoder_ms = timer.median_ms([&] { encoder.run(1); }, runs);
  const double t = enc.frames_per_window, h = enc.hidden_size, i = enc.intermediate_size;
  const double flops =
      2.0 * 2 * t * 3 * enc.num_mel_bins * h + 2.0 * t * 3 * h * h +                    // conv stem
      enc.num_layers * (2.0 * t * (h * 3 * h + h * h + 2 * h * i) + 4.0 * t * t * h) +  // layers
      2.0 * (t / enc.merge_factor) * (5120.0 * 4096 + 4096.0 * 2048);                   // projector
  std::printf(
      "\n== encoder + projector, one 30 s window (1500 positions, bf16): %.3f ms, "
      "%.0f TFLOP/s (%.2f TFLOP)\n",
      encoder_ms, flops / (encoder_ms * 1e-3) / 1e12, flops / 1e12);
  report.set("encoder_ms", encoder_ms);
  report.set("encoder_tflops", flops / (encoder_ms * 1e-3) / 1e12);

  // Prefill of a 390-token prompt (375 audio rows + 15 text tokens).
  cuda::DecoderRunner decoder(*model, gemm, 1, 1024, 512, stream);
  std::vector<int32_t> prompt = {59253, 10, 59261};
  prompt.insert(prompt.end(), 375, config.audio_token_id);
  for (int32_t id : {59262, 59253, 10, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 59254, 10})
    prompt.push_back(id);
  cuda::DeviceBuffer audio(size_t(375) * config.decoder.hidden_size * 2);
  GLMASR_CUDA_CHECK(
      cudaMemcpy(audio.get(), encoder.projector_output(), audio.bytes(), cudaMemcpyDeviceToDevice));
  std::vector<double> prefill_times;
  for (int r = 0; r < std::max(5, runs / 4) + 2; ++r) {
    const Stopwatch watch;
    decoder.prefill(0, prompt, audio.get(), 375);
    if (r >= 2) prefill_times.push_back(watch.milliseconds());
  }
  const double prefill_ms = median(prefill_times);
  std::printf("prefill of %zu tokens (28 layers, causal flash attention, first token): %.3f ms\n",
              prompt.size(), prefill_ms);
  report.set("prefill_ms", prefill_ms);

  // The engine's admission of 8 segments: their windows in one encoder batch, their prompts in
  // one packed prefill pass (against 8 single prefills).
  {
    constexpr int kGroup = 8;
    // Every window of the batch is the same 30 s of speech.
    const auto fill_windows = [&](cuda::EncoderRunner& batch_encoder) {
      for (int w = 0; w < batch_encoder.max_windows(); ++w)
        GLMASR_CUDA_CHECK(cudaMemcpy(batch_encoder.mel_input() + w * mel.features.numel(),
                                     mel.features.data(), mel.features.numel() * sizeof(float),
                                     cudaMemcpyHostToDevice));
    };
    for (const int windows : {kGroup, 2 * kGroup}) {
      cuda::EncoderRunner batch_encoder(*model, gemm, windows, stream);
      fill_windows(batch_encoder);
      const double batch_ms = timer.median_ms([&] { batch_encoder.run(windows); }, runs);
      std::printf(
          "encoder + projector, %d windows in one batch: %.3f ms (%.3f ms, %.0f TFLOP/s per "
          "window)\n",
          windows, batch_ms, batch_ms / windows, windows * flops / (batch_ms * 1e-3) / 1e12);
      report.set("encoder_batch" + std::to_string(windows) + "_ms_per_window", batch_ms / windows);
      if (windows == 2 * kGroup)
        encoder_stage_table(batch_encoder, windows, batch_ms, runs, timer, report);
    }
    {  // The same batch with GELU as a pass of the exact form after each GEMM (gemm_gelu.h).
      cuda::EncoderRunner exact_encoder(*model, gemm, kGroup, stream,
                                        cuda::GeluPlacement::kExactPass);
      fill_windows(exact_encoder);
      const double exact_ms = timer.median_ms([&] { exact_encoder.run(kGroup); }, runs);
      std::printf(
          "encoder + projector, %d windows, exact GELU passes instead of the epilogue: "
          "%.3f ms per window\n",
          kGroup, exact_ms / kGroup);
      report.set("encoder_batch8_exact_gelu_ms_per_window", exact_ms / kGroup);
    }
    // Packed prefill of one encoder batch's prompts, at the engine's batch and twice it (the
    // larger pass fills the GEMMs' last wave better).
    for (const int group : {kGroup, 2 * kGroup}) {
      cuda::DecoderRunner packed_decoder(*model, gemm, group, 1024,
                                         group * static_cast<int>(prompt.size()), stream);
      std::vector<cuda::PackedPrompt> prompts;
      for (int g = 0; g < group; ++g)
        prompts.push_back({.slot = g, .ids = &prompt, .audio_first_row = 0, .audio_rows = 375});
      std::vector<double> packed_times, single_times;
      for (int r = 0; r < std::max(5, runs / 4) + 2; ++r) {
        const Stopwatch packed_watch;
        packed_decoder.prefill_packed(prompts, audio.get());
        const double packed = packed_watch.milliseconds();
        const Stopwatch single_watch;
        for (int g = 0; g < group; ++g) packed_decoder.prefill(g, prompt, audio.get(), 375);
        const double single = single_watch.milliseconds();
        if (r >= 2) {
          packed_times.push_back(packed);
          single_times.push_back(single);
        }
      }
      const double packed_ms = median(packed_times), single_ms = median(single_times);
      const double prefill_flops =
          2.0 * group * static_cast<double>(prompt.size()) *
          static_cast<double>(model->decoder_bytes - model->lm_head_bytes) / 2;
      std::printf(
          "prefill of %d prompts of %zu tokens: packed %.3f ms (%.3f per prompt, ~%.0f "
          "TFLOP/s in the projections), one by one %.3f ms\n",
          group, prompt.size(), packed_ms, packed_ms / group,
          prefill_flops / (packed_ms * 1e-3) / 1e12, single_ms);
      const std::string key = std::to_string(group) + "_ms_per_prompt";
      report.set("prefill_packed" + key, packed_ms / group);
      report.set("prefill_single" + key, single_ms / group);
    }
  }

  // End to end: 30 s of samples -> mel -> encoder -> prefill -> exactly 100 tokens.
  std::vector<double> e2e;
  for (int r = 0; r < 5; ++r) {
    const Stopwatch watch;
    MelWindows m = extractor.compute(samples);
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(encoder.mel_input(), m.features.data(),
                                      m.features.numel() * sizeof(float), cudaMemcpyHostToDevice,
                                      stream));
    encoder.run(1);
    const int64_t kept = audio_tokens_for_frames(m.valid_frames[0], enc.merge_factor);
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(audio.get(), encoder.projector_output(),
                                      kept * config.decoder.hidden_size * 2,
                                      cudaMemcpyDeviceToDevice, stream));
    const cuda::DecodedToken first = decoder.prefill(0, prompt, audio.get(), kept);
    // 99 steps (eos ignored: exactly 100 tokens), pipelined as the engine loop runs them: each
    // is launched before the previous one's token is read back, and feeds that token on the
    // device.
    const int position = static_cast<int>(prompt.size());
    decoder.launch_step({{.slot = 0, .token = first.token, .position = position}});
    for (int s = 1; s < 99; ++s) {
      decoder.launch_step({{.slot = 0, .token = 0, .position = position + s, .follows = 0}});
      decoder.collect_step();
    }
    decoder.collect_step();
    e2e.push_back(watch.milliseconds());
  }
  const double e2e_ms = median(e2e);
  std::printf(
      "end to end, 30 s audio -> 100 tokens (mel on the host, encoder, prefill, 99 pipelined "
      "graph steps): %.1f ms\n",
      e2e_ms);
  report.set("e2e_ms", e2e_ms);
}

}  // namespace glmasr::cli::bench
#endif  // GLMASR_HAVE_CUDA
