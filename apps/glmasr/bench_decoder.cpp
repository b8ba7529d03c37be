// glmasr bench, the decoding step: the whole step as the engine replays it (one CUDA graph), each
// stage's cost inside it, the components per layer, and the matrix-vector kernel, the skinny-batch
// tensor-core kernel and cuBLASLt for the step's projections by batch.
#ifdef GLMASR_HAVE_CUDA
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>

#include "bench_common.h"
#include "core/strings.h"
#include "cuda/check.h"
#include "cuda/device_buffer.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/engine/device_model.h"
#include "cuda/kernels/gemm.h"
#include "cuda/kernels/gemv.h"
#include "cuda/kernels/persistent_decode_step.h"
#include "cuda/kernels/skinny_gemm.h"

namespace glmasr::cli::bench {
namespace {

std::string fixed3(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", v);
  return text;
}

// Where the persistent step's time goes, from one step's timeline: per phase kind (averaged
// over the layers), the span from the previous phase's last block to this one's, the wait from
// that moment to a block's inputs being ready (the phase boundary), and a block's work once they
// are (medians over the blocks).
void bench_persistent_timeline(const std::string& label, cuda::DecoderRunner& decoder, int layers,
                               Report& report) {
  const std::vector<uint64_t> stamps = decoder.persistent_step_timeline();
  const int blocks = cuda::persistent_decode_step_blocks();
  const int phases = cuda::persistent_decode_step_phases(layers);
  const int entries = cuda::persistent_decode_step_timeline_entries();
  auto at = [&](int b, int phase, int which) {
    return stamps[(size_t(b) * phases + phase) * entries + which];
  };
  auto median = [](std::vector<double> v) {
    if (v.empty()) return 0.0;
    std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
    return v[v.size() / 2];
  };
  double start = 1e300;
  for (int b = 0; b < blocks; ++b) start = std::min(start, double(at(b, 0, 0)));
  std::vector<double> last_done(phases, 0.0);
  for (int phase = 0; phase < phases; ++phase)
    for (int b = 0; b < blocks; ++b)
      last_done[phase] = std::max(last_done[phase], double(at(b, phase, 1)) - start);
  const char* names[] = {"qkv", "attention", "o_proj", "gate|up", "down", "lm_head + argmax"};
  std::printf("%-28s %8s %9s %8s %10s %14s\n", "persistent step, per phase", "span us", "boundary",
              "work", "data wait", "producer lead");
  for (int kind = 0; kind < 6; ++kind) {
    std::vector<int> of_kind;
    if (kind == 5)
      of_kind.push_back(phases - 1);
    else
      for (int l = 0; l < layers; ++l) of_kind.push_back(l * 5 + kind);
    double span = 0, boundary = 0, work = 0, wait = 0, lead = 0;
    for (int phase : of_kind) {
      const double previous = phase == 0 ? 0.0 : last_done[phase - 1];
      std::vector<double> waits, works, data, leads;
      for (int b = 0; b < blocks; ++b) {
        if (at(b, phase, 0) == 0) continue;  // a block without work there did not wait
        const double ready = double(at(b, phase, 0)) - start;
        waits.push_back(ready - previous);
        works.push_back(double(at(b, phase, 1)) - start - ready);
        data.push_back(double(at(b, phase, 2)));
        if (at(b, phase, 3) != 0) leads.push_back(ready - (double(at(b, phase, 3)) - start));
      }
      span += last_done[phase] - previous;
      boundary += median(waits);
      work += median(works);
      wait += median(data);
      lead += median(leads);
    }
    const double n = 1e3 * double(of_kind.size());
    std::printf("%-28s %8.2f %9.2f %8.2f %10.2f %14.2f\n", names[kind], span / n, boundary / n,
                work / n, wait / n, lead / n);
    report.set(label + ".persistent." + names[kind] + ".span_us", span / n);
  }
  std::printf(
      "(medians over blocks, means over layers; whole step %.2f us from the first block's "
      "start to the last block's end)\n",
      last_done[phases - 1] / 1e3);
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

}  // namespace

void bench_decoder(const std::string& label, const ModelConfig& config, DType dtype, int position,
                   bool with_head, int runs, double copy_gbs, Report& report, Timer& timer,
                   WeightFormat weights) {
  cudaStream_t stream = timer.stream();
  const bool fp8 = weights == WeightFormat::kFP8;
  auto model = cuda::random_model(config, dtype, 1234, weights);
  cuda::Gemm gemm(dtype);
  cuda::DecoderRunner decoder(*model, gemm, 1, 1024, 512, stream);
  // Fill the cache up to `position` with a real prefill so attention reads written keys.
  decoder.prefill(0, text_ids(position, 7), nullptr, 0);
  decoder.upload_step({{0, 1000, position}});
  const DecoderConfig& dec = config.decoder;
  const double layer_bytes = double(model->decoder_bytes);  // decoder layers + final norm + lm_head
  const double head_bytes = double(model->lm_head_bytes) + dec.hidden_size * 2;
  const double layers_bytes = layer_bytes - head_bytes;
  const unsigned layer_stages = cuda::kStageQkv | cuda::kStageRope | cuda::kStageAttention |
                                cuda::kStageOProj | cuda::kStageGateUp | cuda::kStageDown;
  std::printf(
      "\n== %s: hidden %d, MLP %d, %d/%d heads x %d, %d layers, %s%s, batch 1, position %d, "
      "%.3f GB of weights per step\n",
      label.c_str(), dec.hidden_size, dec.intermediate_size, dec.num_heads, dec.num_kv_heads,
      dec.head_dim, dec.num_layers, dtype == DType::kBF16 ? "bf16" : "fp16",
      fp8 ? " activations, fp8 E4M3 weights (projections + lm_head)" : "", position,
      layer_bytes / 1e9);
  report.set(label + ".weight_bytes", layer_bytes);
  if (with_head) {
    // The step both ways: the graph of kernels (whose stages can be timed one by one), and the
    // persistent kernel where it runs; the engine takes the faster.
    auto time_step = [&](const char* how, const std::string& key) {
      const double step =
          timer.graph_median_ms([&] { decoder.enqueue_step(1, cuda::kStageAll); }, runs);
      const double floor = layer_bytes / (copy_gbs * 1e9) * 1e3;
      std::printf(
          "decoding step, %s (embed, %d layers, norm, lm_head, argmax): %.3f ms, %.0f GB/s of "
          "weights (%.0f%% of copy), floor %.3f ms\n",
          how, dec.num_layers, step, layer_bytes / (step * 1e-3) / 1e9,
          100.0 * layer_bytes / (step * 1e-3) / 1e9 / copy_gbs, floor);
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
      std::printf("decoding step, %s, %d back to back in one graph: %.3f ms each\n", how, kSteps,
                  steady);
      report.set(label + ".step" + key + "_ms", step);
      report.set(label + ".step" + key + "_steady_ms", steady);
      report.set(label + ".floor_ms", floor);
      return step;
    };
    decoder.set_single_step_kernel(cuda::SingleStepKernel::kFastest);  // the engine's choice
    std::printf("the batch-1 step's choice on this device (each candidate's step, ms):\n");
    for (const auto& t : decoder.single_step_timings())
      std::printf("  %-64s %8.3f\n", t.kernel.c_str(), t.ms);
    std::printf("  -> %s\n", decoder.single_step_persistent()
                                 ? "persistent kernel"
                                 : "graph of kernels with the fastest carveouts");
    report.set(label + ".step_persistent_chosen", decoder.single_step_persistent() ? 1 : 0);
    decoder.set_single_step_kernel(cuda::SingleStepKernel::kKernelGraph);
    const double kernels = time_step("graph of kernels", "_kernels");
    bench_step_in_context(label, decoder, kernels, runs, report, timer);
    double step = kernels;
    if (decoder.persistent_unsupported().empty()) {
      decoder.set_single_step_kernel(cuda::SingleStepKernel::kPersistent);
      step = std::min(step, time_step("persistent kernel", "_persistent"));
      bench_persistent_timeline(label, decoder, dec.num_layers, report);
    } else {
      std::printf("decoding step, persistent kernel: not run (%s)\n",
                  decoder.persistent_unsupported().c_str());
    }
    decoder.set_single_step_kernel(cuda::SingleStepKernel::kKernelGraph);  // for the stages below
    std::printf("decoding step, the faster: %.3f ms, %.0f GB/s (%.0f%% of copy)\n", step,
                layer_bytes / (step * 1e-3) / 1e9,
                100.0 * layer_bytes / (step * 1e-3) / 1e9 / copy_gbs);
    report.set(label + ".step_ms", step);
    report.set(label + ".step_gbs", layer_bytes / (step * 1e-3) / 1e9);
  }
  if (!with_head) {
    // The layers below run with what the engine would choose for this model: the graph of
    // kernels' carveouts and matrix-vector occupancy, timed on the whole step.
    decoder.set_single_step_kernel(cuda::SingleStepKernel::kKernelGraph);
    std::printf("the batch-1 step's choice for this model (each candidate's step, ms):\n");
    for (const auto& t : decoder.single_step_timings())
      std::printf("  %-64s %8.3f\n", t.kernel.c_str(), t.ms);
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

  // The step's projections on each kernel, 28 layers in one graph.
  constexpr size_t kRows = 64;  // the largest batch below
  cuda::DeviceBuffer x(kRows * std::max(dec.intermediate_size, dec.hidden_size * 2) * 2);
  cuda::DeviceBuffer y(kRows * 2 * dec.intermediate_size * 2);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(x.get(), 0x3c, x.bytes(), stream));
  struct Shape {
    const char* name;
    int64_t out, in;
    std::function<const void*(int)> weight;
    std::function<const float*(int)> scale;
    std::function<const void*(int)> dequantized;  // fp8: what cuBLASLt multiplies
    bool swiglu = false;
  };
  const int64_t width = int64_t{dec.num_heads + 2 * dec.num_kv_heads} * dec.head_dim;
  const Shape shapes[] = {
      {"qkv", width, dec.hidden_size, [&](int l) { return model->decoder_layers[l].qkv_weight; },
       [&](int l) { return model->decoder_layers[l].qkv_scale; },
       [&](int l) { return model->decoder_layers[l].qkv_dequantized; }},
      {"o_proj", dec.hidden_size, int64_t{dec.num_heads} * dec.head_dim,
       [&](int l) { return model->decoder_layers[l].o_weight; },
       [&](int l) { return model->decoder_layers[l].o_scale; },
       [&](int l) { return model->decoder_layers[l].o_dequantized; }},
      {"gate|up", 2 * int64_t{dec.intermediate_size}, dec.hidden_size,
       [&](int l) { return model->decoder_layers[l].gate_up_weight; },
       [&](int l) { return model->decoder_layers[l].gate_up_scale; },
       [&](int l) { return model->decoder_layers[l].gate_up_dequantized; }, true},
      {"down", dec.hidden_size, dec.intermediate_size,
       [&](int l) { return model->decoder_layers[l].down_weight; },
       [&](int l) { return model->decoder_layers[l].down_scale; },
       [&](int l) { return model->decoder_layers[l].down_dequantized; }},
  };
  // By batch: the three kernels a projection may take (decoder_runner.cpp chooses from these
  // figures), and the split of the skinny kernel that measures best against its automatic one.
  size_t skinny_bytes = 16;
  for (const Shape& s : shapes) {
    for (int split : {0, 16}) {
      cuda::SkinnyGemmParams p;
      p.dtype = dtype;
      p.w_scale = s.scale(0);
      p.out = s.out;
      p.in = s.in;
      p.swiglu_width = s.swiglu ? s.out / 2 : 0;
      skinny_bytes = std::max(skinny_bytes, cuda::skinny_gemm_workspace_bytes(p, 64, split));
    }
  }
  cuda::DeviceBuffer skinny_workspace(skinny_bytes);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(skinny_workspace.get(), 0, skinny_bytes, stream));
  for (int batch : {1, 2, 4, 8, 16, 32, 64}) {
    std::printf("%-28s %10s %10s %16s %12s\n", cat("projection x28 (batch ", batch, ")").c_str(),
                "gemv ms", "skinny ms", "best split (ms)", "cuBLASLt ms");
    const std::string suffix = batch == 1 ? "" : cat(".batch", batch);
    for (const Shape& s : shapes) {
      // What the matrix-vector and the skinny kernel's parameters share, for layer l.
      const auto set_product = [&](auto& p, int l) {
        p.dtype = dtype;
        p.w = s.weight(l);
        p.w_scale = s.scale(l);
        p.out = s.out;
        p.in = s.in;
        p.x = x.get();
        p.y = y.get();
        p.batch = batch;
        p.swiglu_width = s.swiglu ? s.out / 2 : 0;
      };
      double ours = -1;
      if (cuda::gemv_supported(batch, s.in, fp8)) {
        ours = timer.graph_median_ms(
            [&] {
              for (int l = 0; l < dec.num_layers; ++l) {
                cuda::GemvParams p;
                set_product(p, l);
                cuda::gemv(p, stream);
              }
            },
            runs);
        report.set(label + ".gemv." + s.name + suffix, ours);
      }
      const auto skinny_ms = [&](int split) {
        return timer.graph_median_ms(
            [&] {
              for (int l = 0; l < dec.num_layers; ++l) {
                cuda::SkinnyGemmParams p;
                set_product(p, l);
                p.split = split;
                p.workspace = skinny_workspace.get();
                p.workspace_bytes = skinny_workspace.bytes();
                cuda::skinny_gemm(p, stream);
              }
            },
            runs);
      };
      const double automatic = skinny_ms(0);
      double best = automatic;
      int best_split = 0;
      const int64_t steps = s.in / cuda::kSkinnyGemmInputStep;
      for (int split : {1, 2, 3, 4, 6, 8, 12, 16}) {
        if (steps % split != 0 || steps / split < 2) continue;
        const double ms = skinny_ms(split);
        if (ms < best) best = ms, best_split = split;
      }
      report.set(label + ".skinny." + s.name + suffix, automatic);
      report.set(label + ".skinny_best." + s.name + suffix, best);
      // cuBLASLt multiplies the element type: with fp8 weights the model's dequantized copy.
      const auto gemm_weight = [&](int l) { return fp8 ? s.dequantized(l) : s.weight(l); };
      gemm.run(x.get(), batch, s.in, gemm_weight(0), s.out, nullptr, y.get(), false,
               stream);  // plan
      const double theirs = timer.graph_median_ms(
          [&] {
            for (int l = 0; l < dec.num_layers; ++l)
              gemm.run(x.get(), batch, s.in, gemm_weight(l), s.out, nullptr, y.get(), false,
                       stream);
          },
          runs);
      report.set(label + ".cublaslt." + s.name + suffix, theirs);
      const auto column = [](double ms) { return ms < 0 ? std::string("-") : fixed3(ms); };
      const std::string split_label = best_split == 0 ? cat("auto (", fixed3(best), ")")
                                                      : cat(best_split, " (", fixed3(best), ")");
      std::printf("%-28s %10s %10s %16s %12s\n", s.name, column(ours).c_str(),
                  column(automatic).c_str(), split_label.c_str(), column(theirs).c_str());
    }
  }
}

}  // namespace glmasr::cli::bench
#endif  // GLMASR_HAVE_CUDA
