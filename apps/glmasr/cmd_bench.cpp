// glmasr bench: times the CUDA engine's stages on random weights of the real GLM-ASR shapes (or
// the seed report's decoder shape), no checkpoint needed. Device work is timed with CUDA events
// after a warm-up, as the median of many runs; the end-to-end run uses the wall clock.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "model/audio_tokens.h"

#ifdef GLMASR_HAVE_CUDA
#include <cuda_runtime.h>

#include "audio/features.h"
#include "audio/mel.h"
#include "cuda/check.h"
#include "cuda/device.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/engine/encoder_runner.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/gemv.h"
#endif

namespace glmasr::cli {

namespace {

constexpr const char* kUsage =
    "usage: glmasr bench [--seed-shape] [--dtype bf16|fp16] [--runs N] [--json FILE]\n"
    "Times, on random weights of the real GLM-ASR-Nano shapes: the decoding step (28 layers +\n"
    "lm_head, batch 1, position 400) against the device copy bandwidth; the seed report's decoder\n"
    "shape (hidden 3584, MLP 18944, 28/4 heads, head dim 128, fp16, position 100) per layer and\n"
    "for 28 layers with a component table; encoder + projector on one 30 s window; prefill of 390\n"
    "tokens; and 30 s of audio to exactly 100 tokens. --seed-shape runs only the seed shape.\n"
    "--json writes the numbers (milliseconds) for bench/run.sh.\n";

#ifdef GLMASR_HAVE_CUDA

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

class Timer {
 public:
  explicit Timer(cudaStream_t stream) : stream_(stream) {
    GLMASR_CUDA_CHECK(cudaEventCreate(&start_));
    GLMASR_CUDA_CHECK(cudaEventCreate(&stop_));
  }
  ~Timer() {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  // Median milliseconds of `runs` executions of `work` (after `warmup` untimed ones).
  double median_ms(const std::function<void()>& work, int runs, int warmup = 3) {
    for (int i = 0; i < warmup; ++i) work();
    GLMASR_CUDA_CHECK(cudaStreamSynchronize(stream_));
    std::vector<double> times;
    for (int i = 0; i < runs; ++i) {
      GLMASR_CUDA_CHECK(cudaEventRecord(start_, stream_));
      work();
      GLMASR_CUDA_CHECK(cudaEventRecord(stop_, stream_));
      GLMASR_CUDA_CHECK(cudaEventSynchronize(stop_));
      float ms = 0;
      GLMASR_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
      times.push_back(ms);
    }
    return median(times);
  }
  // The same for work captured once into a CUDA graph and replayed.
  double graph_median_ms(const std::function<void()>& enqueue, int runs) {
    cudaGraph_t graph = nullptr;
    GLMASR_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    enqueue();
    GLMASR_CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
    cudaGraphExec_t exec = nullptr;
    GLMASR_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    cudaGraphDestroy(graph);
    const double ms = median_ms([&] { GLMASR_CUDA_CHECK(cudaGraphLaunch(exec, stream_)); }, runs);
    cudaGraphExecDestroy(exec);
    return ms;
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_, stop_;
};

ModelConfig real_config() {
  ModelConfig c;
  c.encoder = {128, 1280, 5120, 32, 20, 20, 64, 32, 10000.0f, 1e-5f, 1500, 4};
  c.projector = {5120, 4096, 2048};
  c.decoder = {59264, 2048, 6144, 28, 16, 4, 128, 8192, 1e-5f, 10000.0f};
  c.audio_token_id = 59260;
  c.eos_token_ids = {59246, 59253, 59255};
  c.source = "glmasr bench (GLM-ASR-Nano-2512 shapes)";
  return c;
}

// The seed report's decoder shape; the encoder is shrunk to a token size (it is not timed).
ModelConfig seed_config() {
  ModelConfig c = real_config();
  c.encoder = {128, 64, 256, 1, 1, 1, 64, 32, 10000.0f, 1e-5f, 1500, 4};
  c.projector = {256, 2 * 3584, 3584};
  c.decoder = {59264, 3584, 18944, 28, 28, 4, 128, 8192, 1e-6f, 10000.0f};
  return c;
}

struct Report {
  std::map<std::string, double> values;
  void set(const std::string& key, double value) { values[key] = value; }
};

double copy_bandwidth_gbs(cudaStream_t stream, Timer& timer) {
  const size_t bytes = size_t{1} << 30;
  cuda::DeviceBuffer a(bytes), b(bytes);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, stream));
  const double ms = timer.median_ms(
      [&] {
        GLMASR_CUDA_CHECK(
            cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, stream));
      },
      20);
  return 2.0 * bytes / (ms * 1e-3) / 1e9;  // read + write
}

std::vector<int32_t> text_ids(int count, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(count);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 59000);  // below the special ids
  (void)vocab;
  return ids;
}

// What each stage costs inside the whole step (the step without it, subtracted from the step:
// stages overlap through dependent launches, so this differs from timing a stage alone).
void bench_step_in_context(const std::string& label, cuda::DecoderRunner& decoder, double step,
                           int runs, Report& report, Timer& timer) {
  struct Stage {
    const char* name;
    unsigned stages;
  };
  const Stage stages[] = {
      {"QKV", cuda::kStageQkv},       {"attention", cuda::kStageAttention},
      {"o_proj", cuda::kStageOProj},  {"gate|up", cuda::kStageGateUp},
      {"down", cuda::kStageDown},     {"lm_head", cuda::kStageHead},
      {"argmax", cuda::kStageArgmax}, {"embedding", cuda::kStageEmbed},
  };
  std::printf("%-40s %12s\n", "stage inside the step (step - step without it)", "ms");
  for (const Stage& s : stages) {
    const double without =
        timer.graph_median_ms([&] { decoder.enqueue_step(1, cuda::kStageAll & ~s.stages); }, runs);
    std::printf("%-40s %12.3f\n", s.name, step - without);
    report.set(label + ".in_step." + s.name, step - without);
  }
}

// Decoding step, its components, and the matrix-vector kernel against cuBLASLt.
void bench_decoder(const std::string& label, const ModelConfig& config, DType dtype, int position,
                   bool with_head, int runs, double copy_gbs, Report& report, cudaStream_t stream,
                   Timer& timer) {
  auto model = cuda::random_model(config, dtype, 1234);
  cuda::Gemm gemm(dtype);
  cuda::DecoderRunner decoder(*model, gemm, 1, 1024, 512, stream);
  // Fill the cache up to `position` with a real prefill so attention reads written keys.
  decoder.prefill(0, text_ids(position, config.decoder.vocab_size, 7), nullptr, 0);
  decoder.upload_step({{0, 1000, position}});
  const DecoderConfig& dec = config.decoder;
  const double layer_bytes = double(model->decoder_bytes);  // decoder layers + final norm + lm_head
  const double head_bytes = double(dec.vocab_size) * dec.hidden_size * 2 + dec.hidden_size * 2;
  const double layers_bytes = layer_bytes - head_bytes;
  const unsigned layer_stages = cuda::kStageQkv | cuda::kStageRope | cuda::kStageAttention |
                                cuda::kStageOProj | cuda::kStageGateUp | cuda::kStageDown;
  std::printf("\n== %s: hidden %d, MLP %d, %d/%d heads x %d, %d layers, %s, batch 1, position %d\n",
              label.c_str(), dec.hidden_size, dec.intermediate_size, dec.num_heads,
              dec.num_kv_heads, dec.head_dim, dec.num_layers,
              dtype == DType::kBF16 ? "bf16" : "fp16", position);
  if (with_head) {
    const double step =
        timer.graph_median_ms([&] { decoder.enqueue_step(1, cuda::kStageAll); }, runs);
    const double floor = layer_bytes / (copy_gbs * 1e9) * 1e3;
    std::printf(
        "decoding step (one CUDA graph: embed, %d layers, norm, lm_head, argmax): %.3f ms, "
        "%.0f GB/s of weights (%.0f%% of copy), floor %.3f ms\n",
        dec.num_layers, step, layer_bytes / (step * 1e-3) / 1e9,
        100.0 * layer_bytes / (step * 1e-3) / 1e9 / copy_gbs, floor);
    report.set(label + ".step_ms", step);
    report.set(label + ".step_gbs", layer_bytes / (step * 1e-3) / 1e9);
    report.set(label + ".floor_ms", floor);
    // Back to back (as a decoding loop that keeps the GPU fed runs them): the graph launch
    // and the first kernel's ramp are paid once for several steps.
    constexpr int kSteps = 8;
    const double steady = timer.graph_median_ms(
                              [&] {
                                for (int i = 0; i < kSteps; ++i)
                                  decoder.enqueue_step(1, cuda::kStageAll);
                              },
                              runs) /
                          kSteps;
    std::printf("decoding step, %d back to back in one graph: %.3f ms each\n", kSteps, steady);
    report.set(label + ".step_steady_ms", steady);
    bench_step_in_context(label, decoder, step, runs, report, timer);
  }
  const double layers = timer.graph_median_ms([&] { decoder.enqueue_step(1, layer_stages); }, runs);
  const double floor = layers_bytes / (copy_gbs * 1e9) * 1e3;
  std::printf("%d layers: %.3f ms (%.4f ms per layer), %.0f GB/s, floor %.3f ms\n", dec.num_layers,
              layers, layers / dec.num_layers, layers_bytes / (layers * 1e-3) / 1e9, floor);
  report.set(label + ".layers_ms", layers);
  report.set(label + ".layer_ms", layers / dec.num_layers);
  report.set(label + ".layers_floor_ms", floor);

  struct Component {
    const char* name;
    unsigned stages;
  };
  const Component components[] = {
      {"norms (fused into QKV / gate_up)", 0},
      {"QKV (RMSNorm + RoPE + KV write fused)", cuda::kStageQkv},
      {"RoPE + KV update (fused into QKV)", 0},
      {"attention (flash-decoding)", cuda::kStageAttention},
      {"o_proj (+ residual fused)", cuda::kStageOProj},
      {"MLP gate|up (RMSNorm + SwiGLU fused)", cuda::kStageGateUp},
      {"MLP down (+ residual fused)", cuda::kStageDown},
      {"residuals (fused into o_proj / down)", 0},
  };
  std::printf("%-40s %12s %12s\n", "component (all layers)", "ms", "ms/layer");
  for (const Component& c : components) {
    if (c.stages == 0) {
      std::printf("%-40s %12s %12s\n", c.name, "fused", "fused");
      continue;
    }
    const double ms = timer.graph_median_ms([&] { decoder.enqueue_step(1, c.stages); }, runs);
    std::printf("%-40s %12.3f %12.4f\n", c.name, ms, ms / dec.num_layers);
    report.set(label + ".component." + c.name, ms);
  }

  // Matrix-vector kernel versus cuBLASLt for the step's projections, 28 layers in one graph.
  std::printf("%-28s %14s %14s\n", "projection x28 (batch 1)", "gemv ms", "cuBLASLt ms");
  cuda::DeviceBuffer x(size_t(8) * std::max(dec.intermediate_size, dec.hidden_size * 2) * 2);
  cuda::DeviceBuffer y(size_t(8) * 2 * dec.intermediate_size * 2 + size_t(dec.vocab_size) * 16);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(x.get(), 0x3c, x.bytes(), stream));
  struct Shape {
    const char* name;
    int64_t out, in;
    std::function<const void*(int)> weight;
  };
  const int64_t width = int64_t{dec.num_heads + 2 * dec.num_kv_heads} * dec.head_dim;
  const Shape shapes[] = {
      {"qkv", width, dec.hidden_size, [&](int l) { return model->decoder_layers[l].qkv_weight; }},
      {"o_proj", dec.hidden_size, int64_t{dec.num_heads} * dec.head_dim,
       [&](int l) { return model->decoder_layers[l].o_weight; }},
      {"gate|up", 2 * int64_t{dec.intermediate_size}, dec.hidden_size,
       [&](int l) { return model->decoder_layers[l].gate_up_weight; }},
      {"down", dec.hidden_size, dec.intermediate_size,
       [&](int l) { return model->decoder_layers[l].down_weight; }},
  };
  for (const Shape& s : shapes) {
    const double ours = timer.graph_median_ms(
        [&] {
          for (int l = 0; l < dec.num_layers; ++l) {
            cuda::GemvParams p;
            p.dtype = dtype;
            p.w = s.weight(l);
            p.out = s.out;
            p.in = s.in;
            p.x = x.get();
            p.y = y.get();
            cuda::gemv(p, stream);
          }
        },
        runs);
    gemm.run(x.get(), 1, s.in, s.weight(0), s.out, nullptr, y.get(), false, stream);  // plan
    const double theirs = timer.graph_median_ms(
        [&] {
          for (int l = 0; l < dec.num_layers; ++l)
            gemm.run(x.get(), 1, s.in, s.weight(l), s.out, nullptr, y.get(), false, stream);
        },
        runs);
    std::printf("%-28s %14.3f %14.3f\n", s.name, ours, theirs);
    report.set(label + ".gemv." + s.name, ours);
    report.set(label + ".cublaslt." + s.name, theirs);
  }
}

void bench_full(int runs, double copy_gbs, Report& report, cudaStream_t stream, Timer& timer) {
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
    const auto start = std::chrono::steady_clock::now();
    decoder.prefill(0, prompt, audio.get(), 375);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    if (r >= 2) prefill_times.push_back(ms);
  }
  const double prefill_ms = median(prefill_times);
  std::printf("prefill of %zu tokens (28 layers, causal flash attention, first token): %.3f ms\n",
              prompt.size(), prefill_ms);
  report.set("prefill_ms", prefill_ms);

  // End to end: 30 s of samples -> mel -> encoder -> prefill -> exactly 100 tokens.
  std::vector<double> e2e;
  for (int r = 0; r < 5; ++r) {
    const auto start = std::chrono::steady_clock::now();
    MelWindows m = extractor.compute(samples);
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(encoder.mel_input(), m.features.data(),
                                      m.features.numel() * sizeof(float), cudaMemcpyHostToDevice,
                                      stream));
    encoder.run(1);
    const int64_t kept = audio_tokens_for_frames(m.valid_frames[0], enc.merge_factor);
    GLMASR_CUDA_CHECK(cudaMemcpyAsync(audio.get(), encoder.projector_output(),
                                      kept * config.decoder.hidden_size * 2,
                                      cudaMemcpyDeviceToDevice, stream));
    cuda::DecodedToken token = decoder.prefill(0, prompt, audio.get(), kept);
    int generated = 1;
    for (int position = static_cast<int>(prompt.size()); generated < 100; ++position, ++generated)
      token = decoder.step({{0, token.token, position}})[0];  // eos ignored: exactly 100 tokens
    e2e.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  const double e2e_ms = median(e2e);
  std::printf(
      "end to end, 30 s audio -> 100 tokens (mel on the host, encoder, prefill, 99 graph "
      "steps): %.1f ms\n",
      e2e_ms);
  report.set("e2e_ms", e2e_ms);
  (void)copy_gbs;
}

#endif  // GLMASR_HAVE_CUDA

}  // namespace

int run_bench(const CommandArgs& argv) {
  if (std::find(argv.begin(), argv.end(), "--help") != argv.end()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    const Args args(argv,
                    {{"--seed-shape"}, {"--dtype", true}, {"--runs", true}, {"--json", true}});
#ifndef GLMASR_HAVE_CUDA
    (void)args;
    std::fprintf(stderr, "glmasr bench: this glmasr was built without CUDA\n");
    return 1;
#else
    GLMASR_CHECK(cuda::device_available(), "glmasr bench: no CUDA device is available");
    const std::string dtype_name = args.get_or("--dtype", "bf16");
    GLMASR_CHECK(dtype_name == "bf16" || dtype_name == "fp16",
                 "--dtype: expected bf16 or fp16, got '", dtype_name, "'");
    const DType dtype = dtype_name == "bf16" ? DType::kBF16 : DType::kF16;
    const int runs = static_cast<int>(args.get_int("--runs", 50, 5, 10000));
    cudaStream_t stream = nullptr;
    GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    Report report;
    {
      Timer timer(stream);
      std::printf("glmasr bench on %s\n", cuda::device_description().c_str());
      const double copy_gbs = copy_bandwidth_gbs(stream, timer);
      std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
      report.set("copy_gbs", copy_gbs);
      if (!args.has("--seed-shape"))
        bench_decoder("decoder", real_config(), dtype, 400, true, runs, copy_gbs, report, stream,
                      timer);
      // The attention kernels read bf16: in fp16 they time the same bytes (see
      // docs/performance.md).
      bench_decoder("seed", seed_config(), DType::kF16, 100, false, runs, copy_gbs, report, stream,
                    timer);
      if (!args.has("--seed-shape")) bench_full(runs, copy_gbs, report, stream, timer);
    }
    cudaStreamDestroy(stream);
    if (auto path = args.get("--json")) {
      std::ofstream out(*path);
      GLMASR_CHECK(out.good(), "--json: cannot write '", *path, "'");
      out << "{\n";
      size_t n = 0;
      for (const auto& [key, value] : report.values)
        out << "  \"" << key << "\": " << value << (++n < report.values.size() ? ",\n" : "\n");
      out << "}\n";
    }
    return 0;
#endif
  } catch (const Error& e) {
    std::fprintf(stderr, "glmasr bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace glmasr::cli
