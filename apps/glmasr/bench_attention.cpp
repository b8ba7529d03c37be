// glmasr bench --attention: the attention kernels alone on random inputs of the engine's shapes
// and layouts (fused QKV rows, KV-cache slots): the encoder window (batch 1 and 8, each rows per
// warp, the generic kernel), the causal prefill, both in fp16 too, and flash-decoding at batch 1
// and 8 alone, back to back, in a 28-layer graph and for each cluster size and q heads per block
// (to tune decode_attention_splits / decode_attention_heads_per_block), and both decode kernels
// at batch 4-256 (to place decode_attention_staged's threshold). Microseconds.
#ifdef GLMASR_HAVE_CUDA
#include <cmath>
#include <cstdio>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench_common.h"
#include "core/error.h"
#include "cuda/check.h"
#include "cuda/device_buffer.h"
#include "cuda/kernels/attention/attention.h"
#include "cuda/kernels/random_fill.h"

namespace glmasr::cli::bench {
namespace {

constexpr int kLayers = 28;  // decode is timed as the engine runs it: 28 layers in one graph

cuda::DeviceBuffer random_elements(DType dtype, int64_t count, uint64_t seed, cudaStream_t stream) {
  cuda::DeviceBuffer buffer(static_cast<size_t>(count) * 2);
  cuda::random_fill(dtype, buffer.get(), count, 0.0f, 1.0f, seed, stream);
  return buffer;
}

// Self-attention over one fused QKV activation [batch, tokens, heads + 2 kv_heads, hd] (the
// encoder), or a causal prompt whose keys and values sit in cache slots [batch, kv_heads,
// max_seq, hd] (the prefill).
struct FlashInputs {
  cuda::DeviceBuffer qkv, kv, out;
  cuda::FlashAttentionParams params{};

  FlashInputs(DType dtype, int batch, int tokens, int heads, int kv_heads, int hd, bool prefill,
              cudaStream_t stream) {
    const int64_t row = int64_t{heads + 2 * kv_heads} * hd, per_batch = tokens * row;
    qkv = random_elements(dtype, batch * per_batch, 5, stream);
    out = cuda::DeviceBuffer(static_cast<size_t>(batch) * tokens * heads * hd * 2);
    auto* base = qkv.as<uint16_t>();
    const cuda::AttentionTensor q{base, per_batch, row, hd};
    cuda::AttentionTensor k{base + heads * hd, per_batch, row, hd};
    cuda::AttentionTensor v{base + (heads + kv_heads) * hd, per_batch, row, hd};
    if (prefill) {
      const int max_seq = tokens + 24;
      const int64_t slot = int64_t{kv_heads} * max_seq * hd;
      kv = random_elements(dtype, 2 * batch * slot, 6, stream);
      k = {kv.as<uint16_t>(), slot, hd, int64_t{max_seq} * hd};
      v = {kv.as<uint16_t>() + batch * slot, slot, hd, int64_t{max_seq} * hd};
    }
    params = {.q = q,
              .k = k,
              .v = v,
              .out = {out.get(), int64_t{tokens} * heads * hd, int64_t{heads} * hd, hd},
              .batch = batch,
              .q_len = tokens,
              .kv_len = tokens,
              .heads = heads,
              .kv_heads = kv_heads,
              .head_dim = hd,
              .scale = 1.0f / std::sqrt(static_cast<float>(hd)),
              .causal = prefill,
              .dtype = dtype};
  }
};

// One new token per sequence against `length` cached keys of its own slot; `layers` caches, so
// that a graph of many layers reads as many bytes as the engine's (not one layer's from L2).
struct DecodeInputs {
  cuda::DeviceBuffer q, k_cache, v_cache, slots, lengths, out, workspace;
  cuda::DecodeAttentionParams params{};
  int64_t layer_elements = 0;

  DecodeInputs(int batch, int heads, int kv_heads, int hd, int max_seq, int length,
               cudaStream_t stream, int layers = 1) {
    const DType dtype = DType::kBF16;
    layer_elements = int64_t{batch} * kv_heads * max_seq * hd;
    q = random_elements(dtype, int64_t{batch} * heads * hd, 7, stream);
    k_cache = random_elements(dtype, layers * layer_elements, 8, stream);
    v_cache = random_elements(dtype, layers * layer_elements, 9, stream);
    out = cuda::DeviceBuffer(static_cast<size_t>(batch) * heads * hd * 2);
    workspace =
        cuda::DeviceBuffer(cuda::decode_attention_workspace_bytes(batch, heads, hd, max_seq));
    std::vector<int> slot_of_seq(batch), seq_len(batch, length);
    std::iota(slot_of_seq.begin(), slot_of_seq.end(), 0);
    slots = cuda::DeviceBuffer(batch * sizeof(int));
    lengths = cuda::DeviceBuffer(batch * sizeof(int));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(slots.get(), slot_of_seq.data(), slots.bytes(), cudaMemcpyHostToDevice));
    GLMASR_CUDA_CHECK(
        cudaMemcpy(lengths.get(), seq_len.data(), lengths.bytes(), cudaMemcpyHostToDevice));
    params = {.q = q.get(),
              .k_cache = k_cache.get(),
              .v_cache = v_cache.get(),
              .slot_of_seq = slots.as<int>(),
              .seq_len = lengths.as<int>(),
              .out = out.get(),
              .workspace = workspace.as<float>(),
              .batch = batch,
              .heads = heads,
              .kv_heads = kv_heads,
              .head_dim = hd,
              .max_seq = max_seq,
              .scale = 1.0f / std::sqrt(static_cast<float>(hd)),
              .dtype = dtype};
  }

  cuda::DecodeAttentionParams layer(int l) const {
    cuda::DecodeAttentionParams p = params;
    p.k_cache = k_cache.as<uint16_t>() + l * layer_elements;
    p.v_cache = v_cache.as<uint16_t>() + l * layer_elements;
    return p;
  }
};

// Median microseconds of `runs` timed launches after 5 untimed ones.
double median_us(Timer& timer, const std::function<void()>& launch, int runs) {
  return timer.median_ms(launch, runs, 5) * 1e3;
}

bool within(const char* what, double us, double bound) {
  if (us < bound) return true;
  std::printf(
      "attention: %s took %.1f us, over its bound of %.0f us (10x the target): off its "
      "fast path?\n",
      what, us, bound);
  return false;
}

// Flash-decoding at the batch sizes of a loaded engine (the hour runs ~128 sequences, positions
// 390-490), both kernels in a 28-layer graph over 28 separate caches: us per layer and the K/V
// bytes' rate (the choice between the kernels, decode_attention_staged, is read off this).
void bench_decode_by_batch(int runs, Report& report, Timer& timer) {
  cudaStream_t stream = timer.stream();
  constexpr int kLength = 450, kMaxSeq = 600;
  std::printf("\n== decode attention by batch, 16/4 x 128, %d keys (max_seq %d), 28 layers\n",
              kLength, kMaxSeq);
  for (int batch : {4, 8, 16, 32, 64, 128, 256}) {
    const DecodeInputs dec(batch, 16, 4, 128, kMaxSeq, kLength, stream, kLayers);
    const double bytes = 2.0 * batch * 4 * kLength * 128 * 2;  // K and V of one layer
    const auto time_layers = [&](const std::function<void(const cuda::DecodeAttentionParams&)>& f) {
      return timer.graph_median_ms(
                 [&] {
                   for (int layer = 0; layer < kLayers; ++layer) f(dec.layer(layer));
                 },
                 runs) *
             1e3 / kLayers;
    };
    const std::string key = "attention.decode_batch" + std::to_string(batch);
    const double chosen_us = time_layers(
        [&](const cuda::DecodeAttentionParams& p) { cuda::decode_attention(p, stream); });
    const bool staged =
        cuda::detail::decode_attention_kernel(dec.params) == cuda::detail::DecodeKernel::kStaged;
    std::printf("decode batch %3d: chosen (%s) %.2f us per layer, %.0f GB/s\n", batch,
                staged ? "staged" : "registers", chosen_us, bytes / chosen_us * 1e-3);
    report.set(key + "_layer_us", chosen_us);
    for (const auto kernel :
         {cuda::detail::DecodeKernel::kRegisters, cuda::detail::DecodeKernel::kStaged})
      for (int splits : {1, 2, 4}) {
        const double us = time_layers([&](const cuda::DecodeAttentionParams& p) {
          cuda::detail::decode_attention_with_splits(p, splits, stream, 0, kernel);
        });
        const char* name = kernel == cuda::detail::DecodeKernel::kStaged ? "staged" : "registers";
        std::printf("decode batch %3d: %-9s %d splits %.2f us per layer, %.0f GB/s\n", batch, name,
                    splits, us, bytes / us * 1e-3);
        report.set(key + "_" + name + "_splits" + std::to_string(splits) + "_layer_us", us);
      }
  }
}

}  // namespace

bool bench_attention(int runs, Report& report, Timer& timer) {
  cudaStream_t stream = timer.stream();
  std::printf("\n== attention kernels, bf16 unless named (median of %d launches, us)\n", runs);
  const double enc_flop = 4.0 * 20 * 1500.0 * 1500.0 * 64;
  double enc_us = 0;
  for (int batch : {1, 8, 16}) {
    FlashInputs enc(DType::kBF16, batch, 1500, 20, 20, 64, false, stream);
    const double auto_us = median_us(
        timer, [&] { cuda::flash_attention(enc.params, stream); }, runs);
    if (batch == 1) enc_us = auto_us;
    std::printf("encoder %dx1500 20x64 default: %.1f us (%.1f us per window, %.0f TFLOP/s)\n",
                batch, auto_us, auto_us / batch, batch * enc_flop / auto_us * 1e-6);
    report.set("attention.encoder_b" + std::to_string(batch) + "_us", auto_us);
    for (int rows : {16, 32}) {
      const double us = median_us(
          timer, [&] { cuda::detail::flash_attention_tensor_cores(enc.params, rows, stream); },
          runs);
      std::printf("encoder %dx1500 20x64 %d rows/warp: %.1f us (%.0f TFLOP/s)\n", batch, rows, us,
                  batch * enc_flop / us * 1e-6);
      report.set(
          "attention.encoder_b" + std::to_string(batch) + "_rows" + std::to_string(rows) + "_us",
          us);
    }
    if (cuda::detail::flash_attention_uses_wgmma(enc.params))
      for (int groups : {2, 3}) {
        const double us = median_us(
            timer, [&] { cuda::detail::flash_attention_wgmma(enc.params, groups, stream); }, runs);
        std::printf("encoder %dx1500 20x64 wgmma, %d warpgroups: %.1f us (%.0f TFLOP/s)\n", batch,
                    groups, us, batch * enc_flop / us * 1e-6);
        report.set("attention.encoder_b" + std::to_string(batch) + "_wgmma" +
                       std::to_string(groups) + "_us",
                   us);
      }
    if (batch == 1) {
      const double generic_us = median_us(
          timer, [&] { cuda::detail::flash_attention_generic(enc.params, stream); }, 10);
      std::printf("encoder 1x1500 20x64 generic kernel: %.1f us\n", generic_us);
      report.set("attention.encoder_b1_generic_us", generic_us);
    }
  }

  FlashInputs pre(DType::kBF16, 1, 400, 16, 4, 128, true, stream);
  const double pre_us = median_us(
      timer, [&] { cuda::flash_attention(pre.params, stream); }, runs);
  std::printf("prefill causal 400, 16/4 x 128: %.1f us\n", pre_us);
  report.set("attention.prefill_us", pre_us);

  // The same two shapes in fp16: the element type changes the mma instruction and the rounding,
  // not the work, so they should match bf16.
  FlashInputs enc16(DType::kF16, 1, 1500, 20, 20, 64, false, stream);
  const double enc16_us = median_us(
      timer, [&] { cuda::flash_attention(enc16.params, stream); }, runs);
  std::printf("encoder 1x1500 20x64 fp16: %.1f us\n", enc16_us);
  report.set("attention.encoder_b1_fp16_us", enc16_us);
  FlashInputs pre16(DType::kF16, 1, 400, 16, 4, 128, true, stream);
  const double pre16_us = median_us(
      timer, [&] { cuda::flash_attention(pre16.params, stream); }, runs);
  std::printf("prefill causal 400, 16/4 x 128 fp16: %.1f us\n", pre16_us);
  report.set("attention.prefill_fp16_us", pre16_us);

  bool ok = within("encoder 1x1500 20x64", enc_us, 800.0);
  ok = within("prefill causal 400", pre_us, 1000.0) && ok;
  for (int batch : {1, 8}) {
    const std::string key = "attention.decode_b" + std::to_string(batch);
    DecodeInputs dec(batch, 16, 4, 128, 2048, 400, stream);
    const double us = median_us(
        timer, [&] { cuda::decode_attention(dec.params, stream); }, runs);
    // Back-to-back launches show the per-step cost without the event overhead.
    const double chained_us =
        timer.back_to_back_ms([&] { cuda::decode_attention(dec.params, stream); }, 200) * 1e3;
    std::printf(
        "decode batch %d seq 400 (max_seq 2048), 16/4 x 128: median %.1f us, back-to-back %.2f us "
        "per call\n",
        batch, us, chained_us);
    report.set(key + "_us", us);
    report.set(key + "_back_to_back_us", chained_us);
    ok = within(("decode batch " + std::to_string(batch)).c_str(), us, 100.0) && ok;
    const double graph_us = timer.graph_median_ms(
                                [&] {
                                  for (int layer = 0; layer < kLayers; ++layer)
                                    cuda::decode_attention(dec.params, stream);
                                },
                                runs) *
                            1e3;
    std::printf("decode batch %d seq 400: %.2f us per layer in a %d-layer graph\n", batch,
                graph_us / kLayers, kLayers);
    report.set(key + "_graph_layer_us", graph_us / kLayers);
    for (int splits : {1, 2, 4, 8, 16})
      for (int heads_per_block : {4, 2, 1}) {
        try {
          const double split_us = timer.graph_median_ms(
                                      [&] {
                                        for (int layer = 0; layer < kLayers; ++layer)
                                          cuda::detail::decode_attention_with_splits(
                                              dec.params, splits, stream, heads_per_block);
                                      },
                                      runs) *
                                  1e3;
          std::printf(
              "decode batch %d seq 400, %2d splits, %d q heads per block: %.2f us per layer in "
              "graph\n",
              batch, splits, heads_per_block, split_us / kLayers);
          report.set(key + "_splits" + std::to_string(splits) + "_heads" +
                         std::to_string(heads_per_block) + "_layer_us",
                     split_us / kLayers);
        } catch (const std::runtime_error& e) {
          // Clusters above 8 blocks are optional hardware support (a launch error: DeviceError).
          cudaGetLastError();
          std::printf("decode batch %d, %d splits unavailable: %s\n", batch, splits, e.what());
        }
      }
  }
  bench_decode_by_batch(runs, report, timer);
  return ok;
}

}  // namespace glmasr::cli::bench
#endif  // GLMASR_HAVE_CUDA
