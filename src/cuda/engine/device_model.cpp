#include "cuda/engine/device_model.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <exception>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/error.h"
#include "cuda/check.h"
#include "cuda/kernels/fp8_weights.h"
#include "cuda/kernels/random_fill.h"
#include "cuda/parallel_upload.h"
#include "model/fp8_quantize.h"

namespace glmasr::cuda {
namespace {

// Writes `count` elements of a tensor, converted to the engine's dtype, to dst.
using HostFill = std::function<void(uint16_t* dst)>;
// Where a piece's bytes already are, in order, when the checkpoint holds them in the engine's
// dtype: then they go to the device without a conversion pass (parallel_upload).
using HostSpans = std::vector<std::pair<const std::byte*, size_t>>;
// What fills a piece: the conversion, and the spans when no conversion is needed.
struct Source {
  HostFill fill;
  HostSpans spans;
};
// Writes the E4M3 codes [rows, count / rows] and the rows' scales of an fp8 matrix.
using Fp8Fill = std::function<void(uint8_t* codes, float* scales)>;

size_t align256(size_t bytes) {
  return (bytes + 255) / 256 * 256;
}

struct Piece {
  const void** target;
  int64_t count;
  HostFill fill;        // upload: converts the checkpoint tensor(s)
  float center, scale;  // random: center + scale * U(-1, 1)
  size_t offset = 0;
  // fp8 matrices: `rows` codes rows followed (256-aligned) by rows float32 scales.
  const float** scale_target = nullptr;
  int64_t rows = 0;
  Fp8Fill fp8_fill = {};
  const void** dequantized_target = nullptr;  // fp8: its copy in the element type
  size_t dequantized_offset = 0;              // in the dequantized arena
  HostSpans spans = {};                       // upload without conversion (see Source)
  // fp8 matrices quantized on the device: `spans` are the checkpoint's bytes of `parts`, which
  // go to the dequantized slot first (see build).
  struct DeviceQuantized {
    std::vector<const TensorView*> parts;  // of one dtype (quantizable_on_device)
    std::string what;
  } device_quantized = {};
  bool fp8() const { return scale_target != nullptr; }
  size_t scales_offset() const { return align256(static_cast<size_t>(count)); }
  size_t bytes() const {  // what the arena holds, unaligned at the end
    return fp8() ? scales_offset() + static_cast<size_t>(rows) * 4 : static_cast<size_t>(count) * 2;
  }
  size_t read_bytes() const {  // what a product reads
    return fp8() ? static_cast<size_t>(count + rows * 4) : static_cast<size_t>(count) * 2;
  }
  size_t element_bytes() const { return static_cast<size_t>(count) * 2; }
};

uint16_t to_bits(float value, DType dtype) {
  return dtype == DType::kBF16 ? float_to_bf16(value) : float_to_fp16(value);
}

void convert_into(const TensorView& view, DType dtype, uint16_t* dst) {
  if (view.dtype == dtype) {
    std::memcpy(dst, view.data, view.nbytes);
    return;
  }
  const int64_t n = view.numel();
  for (int64_t i = 0; i < n; ++i) dst[i] = to_bits(element_to_float(view, i, "cuda upload"), dtype);
}

// Conv1d weight [out, in, 3] -> [out, 3, in].
void convert_conv_into(const TensorView& view, DType dtype, uint16_t* dst) {
  const int64_t out = view.dim(0), in = view.dim(1), taps = view.dim(2);
  std::vector<uint16_t> plain(static_cast<size_t>(view.numel()));
  convert_into(view, dtype, plain.data());
  for (int64_t o = 0; o < out; ++o)
    for (int64_t c = 0; c < in; ++c)
      for (int64_t k = 0; k < taps; ++k)
        dst[(o * taps + k) * in + c] = plain[(o * in + c) * taps + k];
}

// Rows of several tensors stacked: the fused projections (one tensor: itself).
Source stack(std::vector<const TensorView*> parts, DType dtype) {
  HostSpans spans;
  for (const TensorView* part : parts) {
    if (part->dtype != dtype)
      return {.fill =
                  [parts, dtype](uint16_t* dst) {
                    for (const TensorView* p : parts) {
                      convert_into(*p, dtype, dst);
                      dst += p->numel();
                    }
                  },
              .spans = {}};
    spans.emplace_back(part->data, part->nbytes);
  }
  return {.fill = {}, .spans = std::move(spans)};
}

// q bias | zeros (k has no bias) | v bias.
HostFill stack_qkv_bias(const TensorView* q, int64_t k_count, const TensorView* v, DType dtype) {
  return [=](uint16_t* dst) {
    convert_into(*q, dtype, dst);
    dst += q->numel();
    std::fill(dst, dst + k_count, to_bits(0.0f, dtype));
    convert_into(*v, dtype, dst + k_count);
  };
}

// Stacked rows of several matrices quantized to fp8: per-row scales make this the same as
// quantizing the fused matrix.
Fp8Fill stack_fp8(std::vector<const TensorView*> parts, std::string what) {
  return [parts, what](uint8_t* codes, float* scales) {
    for (const TensorView* part : parts) {
      quantize_fp8_rows(*part, codes, scales, what.c_str());
      codes += part->numel();
      scales += part->dim(0);
    }
  };
}

// Whether an fp8 matrix stacked from `parts` can be quantized on the device: every part a
// [rows, in] matrix of one 2-byte float dtype (its bytes fit the element-type slot they are
// uploaded into), the rows adding up to `out`.
bool quantizable_on_device(const std::vector<const TensorView*>& parts, int64_t out, int64_t in) {
  int64_t rows = 0;
  for (const TensorView* part : parts) {
    if (part->dtype != parts.front()->dtype ||
        (part->dtype != DType::kBF16 && part->dtype != DType::kF16) || part->shape.size() != 2 ||
        part->dim(1) != in || part->nbytes != static_cast<size_t>(part->numel()) * 2)
      return false;
    rows += part->dim(0);
  }
  return !parts.empty() && rows == out;
}

// After the device quantized `piece`: names the first non-finite weight (flat index `first` in
// the stacked matrix) as the host quantizer would.
[[noreturn]] void fail_nonfinite(const Piece& piece, uint64_t first) {
  const int64_t cols = piece.count / piece.rows;
  auto local = static_cast<int64_t>(first);
  for (const TensorView* part : piece.device_quantized.parts) {
    if (local < part->numel())
      fail(piece.device_quantized.what, ": fp8 quantization: expected finite weights, row ",
           local / cols, " holds ", element_to_float(*part, local, "fp8 quantization"),
           " at column ", local % cols);
    local -= part->numel();
  }
  fail(piece.device_quantized.what, ": fp8 quantization: a non-finite weight");
}

std::unique_ptr<DeviceModel> build(const ModelConfig& config, const ModelWeights* weights,
                                   DType dtype, uint64_t seed, WeightFormat format,
                                   const BesideUpload& beside) {
  GLMASR_CHECK(dtype == DType::kBF16 || dtype == DType::kF16,
               "cuda engine dtype: expected bf16 or fp16, got ", dtype_name(dtype));
  auto model = std::make_unique<DeviceModel>();
  model->config = config;
  model->dtype = dtype;
  model->weights = format;
  const bool fp8 = format == WeightFormat::kFP8;
  const EncoderConfig& enc = config.encoder;
  const DecoderConfig& dec = config.decoder;
  std::vector<Piece> pieces;
  const bool upload = weights != nullptr;

  auto add = [&](const void** target, int64_t count, Source source, float center, float scale) {
    pieces.push_back({.target = target,
                      .count = count,
                      .fill = std::move(source.fill),
                      .center = center,
                      .scale = scale,
                      .spans = std::move(source.spans)});
  };
  auto linear = [&](const void** target, int64_t out, int64_t in, Source source) {
    add(target, out * in, std::move(source), 0.0f, 1.0f / std::sqrt(float(in)));
  };
  auto vector = [&](const void** target, int64_t count, Source source, float center, float scale) {
    add(target, count, std::move(source), center, scale);
  };
  auto view = [&](const TensorView& v) -> Source { return stack({&v}, dtype); };
  auto none = Source{};
  auto from = [&](auto make) -> Source { return upload ? make() : none; };

  const int64_t h = enc.hidden_size;
  add(&model->conv1_weight, h * enc.num_mel_bins * 3, from([&] {
    return Source{.fill = [w = &weights->conv1_weight,
                           dtype](uint16_t* d) { convert_conv_into(*w, dtype, d); },
                  .spans = {}};
  }),
      0.0f, 1.0f / std::sqrt(3.0f * enc.num_mel_bins));
  vector(&model->conv1_bias, h, from([&] { return view(weights->conv1_bias); }), 0.0f, 0.02f);
  add(&model->conv2_weight, h * h * 3, from([&] {
    return Source{.fill = [w = &weights->conv2_weight,
                           dtype](uint16_t* d) { convert_conv_into(*w, dtype, d); },
                  .spans = {}};
  }),
      0.0f, 1.0f / std::sqrt(3.0f * h));
  vector(&model->conv2_bias, h, from([&] { return view(weights->conv2_bias); }), 0.0f, 0.02f);

  model->encoder_layers.resize(enc.num_layers);
  const int64_t eq = int64_t{enc.num_heads} * enc.head_dim,
                ekv = int64_t{enc.num_kv_heads} * enc.head_dim;
  for (int i = 0; i < enc.num_layers; ++i) {
    DeviceEncoderLayer& L = model->encoder_layers[i];
    const EncoderLayerWeights* W = upload ? &weights->encoder_layers[i] : nullptr;
    vector(&L.attn_norm_weight, h, from([&] { return view(W->attn_norm_weight); }), 1.0f, 0.1f);
    vector(&L.attn_norm_bias, h, from([&] { return view(W->attn_norm_bias); }), 0.0f, 0.02f);
    linear(&L.qkv_weight, eq + 2 * ekv, h, from([&] {
      return stack({&W->q_weight, &W->k_weight, &W->v_weight}, dtype);
    }));
    vector(&L.qkv_bias, eq + 2 * ekv, from([&] {
      return Source{.fill = stack_qkv_bias(&W->q_bias, ekv, &W->v_bias, dtype), .spans = {}};
    }),
           0.0f, 0.02f);
    linear(&L.o_weight, h, eq, from([&] { return view(W->o_weight); }));
    vector(&L.o_bias, h, from([&] { return view(W->o_bias); }), 0.0f, 0.02f);
    vector(&L.mlp_norm_weight, h, from([&] { return view(W->mlp_norm_weight); }), 1.0f, 0.1f);
    vector(&L.mlp_norm_bias, h, from([&] { return view(W->mlp_norm_bias); }), 0.0f, 0.02f);
    linear(&L.fc1_weight, enc.intermediate_size, h, from([&] { return view(W->fc1_weight); }));
    vector(&L.fc1_bias, enc.intermediate_size, from([&] { return view(W->fc1_bias); }), 0.0f,
           0.02f);
    linear(&L.fc2_weight, h, enc.intermediate_size, from([&] { return view(W->fc2_weight); }));
    vector(&L.fc2_bias, h, from([&] { return view(W->fc2_bias); }), 0.0f, 0.02f);
  }
  vector(&model->encoder_norm_weight, h, from([&] { return view(weights->encoder_norm_weight); }),
         1.0f, 0.1f);
  vector(&model->encoder_norm_bias, h, from([&] { return view(weights->encoder_norm_bias); }), 0.0f,
         0.02f);
  const ProjectorConfig& proj = config.projector;
  linear(&model->projector1_weight, proj.hidden_size, proj.input_size,
         from([&] { return view(weights->projector1_weight); }));
  vector(&model->projector1_bias, proj.hidden_size,
         from([&] { return view(weights->projector1_bias); }), 0.0f, 0.02f);
  linear(&model->projector2_weight, proj.output_size, proj.hidden_size,
         from([&] { return view(weights->projector2_weight); }));
  vector(&model->projector2_bias, proj.output_size,
         from([&] { return view(weights->projector2_bias); }), 0.0f, 0.02f);

  // A decoder projection: stacked parts in the element type, or their fp8 quantization.
  auto projection = [&](const void** target, const float** scale_target,
                        const void** dequantized_target, int64_t out, int64_t in,
                        std::vector<const TensorView*> parts, std::string what) {
    if (!fp8) {
      linear(target, out, in, upload ? stack(parts, dtype) : none);
      return;
    }
    // Checkpoints in bf16 or fp16 (the published one is bf16) are quantized on the device, from
    // their bytes uploaded into the matrix's dequantized slot; others on the host.
    const bool on_device = upload && quantizable_on_device(parts, out, in);
    Piece piece{.target = target,
                .count = out * in,
                .fill = {},
                .center = 0.0f,
                .scale = 1.0f / std::sqrt(float(in)),
                .scale_target = scale_target,
                .rows = out,
                .fp8_fill = upload && !on_device ? stack_fp8(parts, what) : Fp8Fill{},
                .dequantized_target = dequantized_target};
    if (on_device) {
      for (const TensorView* part : parts) piece.spans.emplace_back(part->data, part->nbytes);
      piece.device_quantized = {.parts = std::move(parts), .what = std::move(what)};
    }
    pieces.push_back(std::move(piece));
  };

  const int64_t d = dec.hidden_size, f = dec.intermediate_size;
  const int64_t dq = int64_t{dec.num_heads} * dec.head_dim,
                dkv = int64_t{dec.num_kv_heads} * dec.head_dim;
  vector(&model->embed_tokens, dec.vocab_size * d,
         from([&] { return view(weights->embed_tokens); }), 0.0f, 0.05f);
  const size_t first_decoder_piece = pieces.size() + 0;
  model->decoder_layers.resize(dec.num_layers);
  for (int i = 0; i < dec.num_layers; ++i) {
    DeviceDecoderLayer& L = model->decoder_layers[i];
    const DecoderLayerWeights* W = upload ? &weights->decoder_layers[i] : nullptr;
    vector(&L.attn_norm_weight, d, from([&] { return view(W->attn_norm_weight); }), 1.0f, 0.1f);
    const std::string layer = cat("decoder layer ", i, " ");
    using Parts = std::vector<const TensorView*>;
    projection(&L.qkv_weight, &L.qkv_scale, &L.qkv_dequantized, dq + 2 * dkv, d,
               upload ? Parts{&W->q_weight, &W->k_weight, &W->v_weight} : Parts{},
               layer + "q|k|v_proj");
    projection(&L.o_weight, &L.o_scale, &L.o_dequantized, d, dq,
               upload ? Parts{&W->o_weight} : Parts{}, layer + "o_proj");
    vector(&L.mlp_norm_weight, d, from([&] { return view(W->mlp_norm_weight); }), 1.0f, 0.1f);
    projection(&L.gate_up_weight, &L.gate_up_scale, &L.gate_up_dequantized, 2 * f, d,
               upload ? Parts{&W->gate_weight, &W->up_weight} : Parts{}, layer + "gate|up_proj");
    projection(&L.down_weight, &L.down_scale, &L.down_dequantized, d, f,
               upload ? Parts{&W->down_weight} : Parts{}, layer + "down_proj");
  }
  vector(&model->final_norm_weight, d, from([&] { return view(weights->final_norm_weight); }), 1.0f,
         0.1f);
  // fp8: lm_head gets its own quantized copy (weights->lm_head views the embedding when tied).
  const bool share_lm_head = upload && weights->lm_head_is_embedding && !fp8;
  if (!share_lm_head) {
    projection(&model->lm_head, &model->lm_head_scale, &model->lm_head_dequantized, dec.vocab_size,
               d,
               upload ? std::vector<const TensorView*>{&weights->lm_head}
                      : std::vector<const TensorView*>{},
               "lm_head");
  }

  size_t total = 0, dequantized_total = 0;
  for (Piece& piece : pieces) {
    piece.offset = total;
    total += align256(piece.bytes());
    if (piece.fp8()) {
      piece.dequantized_offset = dequantized_total;
      dequantized_total += align256(piece.element_bytes());
    }
  }
  for (size_t i = first_decoder_piece; i < pieces.size(); ++i) {
    model->decoder_bytes += pieces[i].read_bytes();
    model->decoder_gemm_bytes +=
        pieces[i].fp8() ? pieces[i].element_bytes() : pieces[i].read_bytes();
  }
  model->lm_head_bytes =
      share_lm_head ? static_cast<size_t>(dec.vocab_size * d) * 2 : pieces.back().read_bytes();
  if (share_lm_head) {
    model->decoder_bytes += model->lm_head_bytes;
    model->decoder_gemm_bytes += model->lm_head_bytes;
  }

  model->arena = DeviceBuffer(total);
  if (dequantized_total > 0) model->dequantized_arena = DeviceBuffer(dequantized_total);
  auto* base = model->arena.as<std::byte>();
  auto* dequantized_base = model->dequantized_arena.as<std::byte>();
  // Every weight's address first, so that `beside` can run on the model while it is filled.
  for (Piece& piece : pieces) {
    *piece.target = base + piece.offset;
    if (piece.fp8()) {
      *piece.scale_target = reinterpret_cast<float*>(base + piece.offset + piece.scales_offset());
      *piece.dequantized_target = dequantized_base + piece.dequantized_offset;
    }
  }
  if (share_lm_head) model->lm_head = model->embed_tokens;
  std::exception_ptr beside_failed;
  std::thread beside_thread;
  if (beside) {
    int device = 0;
    GLMASR_CUDA_CHECK(cudaGetDevice(&device));
    beside_thread = std::thread([&, device] {
      try {
        GLMASR_CUDA_CHECK(cudaSetDevice(device));
        beside(*model);
      } catch (...) {
        beside_failed = std::current_exception();
      }
    });
  }
  struct JoinAtExit {  // the thread reads the model: never leave before it ends
    std::thread& thread;
    ~JoinAtExit() {
      if (thread.joinable()) thread.join();
    }
  } join_at_exit{beside_thread};

  std::vector<uint16_t> staging;
  std::vector<uint8_t> codes;
  std::vector<float> scales;
  std::vector<HostToDeviceCopy> direct;  // the pieces the checkpoint holds as they are
  for (size_t i = 0; i < pieces.size(); ++i) {
    Piece& piece = pieces[i];
    void* dst = base + piece.offset;
    if (upload && !piece.spans.empty()) {
      auto* at =
          static_cast<std::byte*>(piece.fp8() ? dequantized_base + piece.dequantized_offset : dst);
      for (const auto& [src, bytes] : piece.spans) {
        direct.push_back({.src = src, .bytes = bytes, .dst = at});
        at += bytes;
      }
      continue;
    }
    if (piece.fp8()) {
      auto* scale_dst = reinterpret_cast<float*>(base + piece.offset + piece.scales_offset());
      if (upload) {
        codes.resize(static_cast<size_t>(piece.count));
        scales.resize(static_cast<size_t>(piece.rows));
        piece.fp8_fill(codes.data(), scales.data());
        GLMASR_CUDA_CHECK(cudaMemcpy(dst, codes.data(), codes.size(), cudaMemcpyHostToDevice));
        GLMASR_CUDA_CHECK(
            cudaMemcpy(scale_dst, scales.data(), scales.size() * 4, cudaMemcpyHostToDevice));
      } else {
        random_fill_fp8(dst, scale_dst, piece.rows, piece.count / piece.rows, piece.scale, seed + i,
                        nullptr);
      }
      continue;
    }
    if (upload) {
      staging.resize(static_cast<size_t>(piece.count));
      piece.fill(staging.data());
      GLMASR_CUDA_CHECK(
          cudaMemcpy(dst, staging.data(), staging.size() * 2, cudaMemcpyHostToDevice));
    } else {
      random_fill(dtype, dst, piece.count, piece.center, piece.scale, seed + i, nullptr);
    }
  }
  // Most of the 4.5 GB: page faults of the mapped file, host copies and DMA overlapped over a
  // few threads instead of one synchronous pageable copy after another.
  parallel_upload(direct,
                  static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 8u)));
  // fp8: the matrices uploaded as they are quantized from their dequantized slot, then every
  // matrix's element-type copy from its codes and scales overwrites that slot (the copies above
  // were synchronous, random fills and these kernels on this same stream).
  DeviceBuffer first_nonfinite(fp8 ? pieces.size() * sizeof(unsigned long long) : 0);
  auto* nonfinite = first_nonfinite.as<unsigned long long>();
  if (fp8) GLMASR_CUDA_CHECK(cudaMemset(nonfinite, 0xff, first_nonfinite.bytes()));
  for (size_t i = 0; i < pieces.size(); ++i) {
    const Piece& piece = pieces[i];
    if (!piece.fp8()) continue;
    void* slot = dequantized_base + piece.dequantized_offset;
    const int64_t cols = piece.count / piece.rows;
    if (!piece.device_quantized.parts.empty())
      quantize_fp8_rows_on_device(
          piece.device_quantized.parts.front()->dtype, slot, piece.rows, cols, base + piece.offset,
          reinterpret_cast<float*>(base + piece.offset + piece.scales_offset()), nonfinite + i,
          nullptr);
    dequantize_fp8_rows(dtype, *piece.target, *piece.scale_target, piece.rows, cols, slot, nullptr);
  }
  if (beside_thread.joinable()) beside_thread.join();
  if (beside_failed) std::rethrow_exception(beside_failed);
  GLMASR_CUDA_CHECK(cudaDeviceSynchronize());
  if (fp8) {
    std::vector<unsigned long long> first(pieces.size());
    GLMASR_CUDA_CHECK(
        cudaMemcpy(first.data(), nonfinite, first_nonfinite.bytes(), cudaMemcpyDeviceToHost));
    for (size_t i = 0; i < pieces.size(); ++i)
      if (first[i] != ~0ull) fail_nonfinite(pieces[i], first[i]);
  }
  return model;
}

}  // namespace

std::unique_ptr<DeviceModel> upload_model(const ModelConfig& config, const ModelWeights& weights,
                                          DType dtype, WeightFormat format,
                                          const BesideUpload& beside) {
  return build(config, &weights, dtype, 0, format, beside);
}

std::unique_ptr<DeviceModel> random_model(const ModelConfig& config, DType dtype, uint64_t seed,
                                          WeightFormat format) {
  return build(config, nullptr, dtype, seed, format, {});
}

}  // namespace glmasr::cuda
