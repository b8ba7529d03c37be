// glmasr bench: times the CUDA engine's stages on random weights of the real GLM-ASR shapes (or
// the seed report's decoder shape), no checkpoint needed. Device work is timed with CUDA events
// after a warm-up, as the median of many runs; the end-to-end run uses the wall clock. The cases
// live in bench_*.cpp; this file reads the options, runs them in order and writes --json.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "model/audio_tokens.h"

#ifdef GLMASR_HAVE_CUDA
#include <cuda_runtime.h>

#include "bench_common.h"
#include "cuda/check.h"
#include "cuda/device.h"
#endif

namespace glmasr::cli {

namespace {

constexpr const char* kUsage =
    "usage: glmasr bench [--seed-shape] [--attention] [--batch-sweep] [--overlap]\n"
    "                    [--dtype bf16|fp16]\n"
    "                    [--weights bf16|fp8]\n"
    "                    [--runs N] [--json FILE]\n"
    "Times, on random weights of the real GLM-ASR-Nano shapes: the decoding step (28 layers +\n"
    "lm_head, batch 1, position 400) against the device copy bandwidth; the seed report's decoder\n"
    "shape (hidden 3584, MLP 18944, 28/4 heads, head dim 128, fp16, position 100) per layer and\n"
    "for 28 layers with a component table; encoder + projector on one 30 s window; prefill of 390\n"
    "tokens; and 30 s of audio to exactly 100 tokens. --seed-shape runs only the seed shape.\n"
    "--attention runs only the attention kernels (encoder window, prefill, decode for each\n"
    "cluster size; microseconds) and exits 1 when one is 10x off its target.\n"
    "--batch-sweep runs only the decoding step at batch 1..256 (450 positions per sequence),\n"
    "with attention's share of each step (with --weights fp8: fp8 projections and lm_head).\n"
    "--overlap runs only an encoder batch beside decoding steps on streams of their own, in turn\n"
    "and at once (how much of the steps' time running at once hides).\n"
    "--weights fp8 runs only the decoding step (label decoder_fp8) with fp8 E4M3 weights for the\n"
    "projections and lm_head (per-row scales), activations in --dtype.\n"
    "--json writes the numbers (milliseconds) for bench/run.sh.\n";

#ifdef GLMASR_HAVE_CUDA
void write_json(const std::string& path, const bench::Report& report) {
  std::ofstream out(path);
  GLMASR_CHECK(out.good(), "--json: cannot write '", path, "'");
  out << "{\n";
  size_t n = 0;
  for (const auto& [key, value] : report.values)
    out << "  \"" << key << "\": " << value << (++n < report.values.size() ? ",\n" : "\n");
  out << "}\n";
}
#endif

}  // namespace

int run_bench(const CommandArgs& argv) {
  if (std::find(argv.begin(), argv.end(), "--help") != argv.end()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  try {
    const Args args(argv, {{"--seed-shape"},
                           {"--attention"},
                           {"--batch-sweep"},
                           {"--overlap"},
                           {"--dtype", true},
                           {"--weights", true},
                           {"--runs", true},
                           {"--json", true}});
    const WeightFormat weights = weights_option(args);
#ifndef GLMASR_HAVE_CUDA
    (void)args;
    (void)weights;
    std::fprintf(stderr, "glmasr bench: this glmasr was built without CUDA\n");
    return 1;
#else
    GLMASR_CHECK(cuda::device_available(), "glmasr bench: no CUDA device is available");
    GLMASR_CHECK(!(args.has("--seed-shape") && args.has("--attention")),
                 "--seed-shape and --attention each choose the only case to run: give one");
    GLMASR_CHECK(
        weights == WeightFormat::kBF16 || !(args.has("--seed-shape") || args.has("--attention")),
        "--weights fp8 times the decoding step only: leave out --seed-shape/--attention");
    const std::string dtype_name = args.get_or("--dtype", "bf16");
    GLMASR_CHECK(dtype_name == "bf16" || dtype_name == "fp16",
                 "--dtype: expected bf16 or fp16, got '", dtype_name, "'");
    const DType dtype = dtype_name == "bf16" ? DType::kBF16 : DType::kF16;
    const int runs = static_cast<int>(args.get_int("--runs", 50, 5, 10000));
    cudaStream_t stream = nullptr;
    GLMASR_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    bench::Report report;
    bool within_bounds = true;
    {
      bench::Timer timer(stream);
      std::printf("glmasr bench on %s\n", cuda::device_description().c_str());
      if (args.has("--attention")) {
        within_bounds = bench::bench_attention(runs, report, timer);
      } else if (args.has("--overlap")) {
        bench::bench_overlap(runs);
      } else if (args.has("--batch-sweep")) {
        const double copy_gbs = bench::copy_bandwidth_gbs(timer);
        bench::bench_batch_sweep(weights, runs, copy_gbs, report, timer);
      } else if (weights == WeightFormat::kFP8) {
        const double copy_gbs = bench::copy_bandwidth_gbs(timer);
        std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
        report.set("copy_gbs", copy_gbs);
        bench::bench_decoder("decoder_fp8", bench::real_config(), dtype, 400, true, runs, copy_gbs,
                             report, timer, WeightFormat::kFP8);
      } else {
        const double copy_gbs = bench::copy_bandwidth_gbs(timer);
        std::printf("device-to-device copy: %.0f GB/s (read + write)\n", copy_gbs);
        report.set("copy_gbs", copy_gbs);
        if (!args.has("--seed-shape"))
          bench::bench_decoder("decoder", bench::real_config(), dtype, 400, true, runs, copy_gbs,
                               report, timer);
        // The attention kernels read bf16: in fp16 they time the same bytes (see
        // docs/performance.md).
        bench::bench_decoder("seed", bench::seed_config(), DType::kF16, 100, false, runs, copy_gbs,
                             report, timer);
        if (!args.has("--seed-shape")) bench::bench_end_to_end(runs, report, timer);
      }
    }
    cudaStreamDestroy(stream);
    if (auto path = args.get("--json")) write_json(*path, report);
    return within_bounds ? 0 : 1;
#endif
  } catch (const Error& e) {
    std::fprintf(stderr, "glmasr bench: %s\n", e.what());
    return 1;
  }
}

}  // namespace glmasr::cli
