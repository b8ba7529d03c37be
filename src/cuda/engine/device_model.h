// The model's weights on the GPU, uploaded once in the engine's element type (bf16, or fp16 on
// request) into one allocation. Projections that read the same input are fused at upload:
// q|k|v into one [(heads + 2 kv_heads) * head_dim, in] matrix (with a fused bias whose k part
// is zero in the encoder), and the decoder's gate|up into one [2F, D] matrix. Conv weights are
// permuted to [out, 3, in] for the im2col GEMM.
// With WeightFormat::kFP8 the decoder's projections (fused QKV, o_proj, gate|up, down) and
// lm_head are E4M3 codes with a float32 scale per row (model/fp8_quantize.h), quantized at
// load: a bf16/fp16 checkpoint on the device (its bytes uploaded into the matrix's dequantized
// slot below, then quantize_fp8_rows_on_device: the host quantizer's bits, ~2 s less load than
// on the host's cores), others on the host. Their *_scale pointers are then set. lm_head then
// never shares the embedding, which stays in the element type with everything else. Those
// matrices are also dequantized once, after the upload, into a second allocation in the element
// type (*_dequantized): the products cuBLASLt takes (prefill, steps beyond the skinny kernel's
// batches) read them, as they would have read a copy dequantized before every product, at the
// price of the element type's bytes on the device beside the codes (2.95 GB on the real model).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
#include "engine/engine_options.h"
#include "model/config.h"
#include "model/weights.h"

namespace glmasr::cuda {

struct DeviceEncoderLayer {
  const void *attn_norm_weight, *attn_norm_bias;
  const void *qkv_weight, *qkv_bias;
  const void *o_weight, *o_bias;
  const void *mlp_norm_weight, *mlp_norm_bias;
  const void *fc1_weight, *fc1_bias;
  const void *fc2_weight, *fc2_bias;
};

struct DeviceDecoderLayer {
  const void* attn_norm_weight;
  const void* qkv_weight;
  const void* o_weight;
  const void* mlp_norm_weight;
  const void* gate_up_weight;
  const void* down_weight;
  // fp8 weights: per-row scales of the matrices above; null in the element type.
  const float* qkv_scale = nullptr;
  const float* o_scale = nullptr;
  const float* gate_up_scale = nullptr;
  const float* down_scale = nullptr;
  // fp8 weights: the matrices above as cuBLASLt multiplies them (code * scale rounded to the
  // element type, dequantize_fp8_rows); null in the element type.
  const void* qkv_dequantized = nullptr;
  const void* o_dequantized = nullptr;
  const void* gate_up_dequantized = nullptr;
  const void* down_dequantized = nullptr;
};

struct DeviceModel {
  ModelConfig config;
  DType dtype = DType::kBF16;
  WeightFormat weights = WeightFormat::kBF16;
  DeviceBuffer arena;
  const void *conv1_weight, *conv1_bias, *conv2_weight, *conv2_bias;
  std::vector<DeviceEncoderLayer> encoder_layers;
  const void *encoder_norm_weight, *encoder_norm_bias;
  const void *projector1_weight, *projector1_bias, *projector2_weight, *projector2_bias;
  const void* embed_tokens;
  std::vector<DeviceDecoderLayer> decoder_layers;
  const void* final_norm_weight;
  const void* lm_head;
  const float* lm_head_scale = nullptr;       // fp8 weights
  const void* lm_head_dequantized = nullptr;  // fp8 weights, as the layers' *_dequantized
  DeviceBuffer dequantized_arena;             // fp8 weights: every *_dequantized matrix
  size_t decoder_bytes = 0;  // bytes a decoding step reads: decoder layers + final norm + lm_head
  size_t lm_head_bytes = 0;  // of which lm_head (codes and scales for fp8)
  // What a step whose products all run on cuBLASLt reads: decoder_bytes, but for fp8 weights the
  // dequantized matrices instead of the codes and scales.
  size_t decoder_gemm_bytes = 0;
};

// Work to run on another thread while the weights upload, once every weight has its device
// address (the values are still being written: whatever it computes from them is garbage). The
// engine loads its kernels and plans there (CudaEngine's warm-up). The device is current.
using BesideUpload = std::function<void(const DeviceModel&)>;

// Uploads checkpoint weights (any float dtype) converted to `dtype` (BF16 or F16), the
// decoder's projections in `weights`; runs `beside` (if set) during the upload and rethrows
// what it threw.
std::unique_ptr<DeviceModel> upload_model(const ModelConfig& config, const ModelWeights& weights,
                                          DType dtype, WeightFormat format = WeightFormat::kBF16,
                                          const BesideUpload& beside = {});
// Random weights of the config's shapes (for benchmarks): linear weights uniform in
// +-1/sqrt(in), norm weights near 1, biases and embeddings small. Deterministic in `seed`.
std::unique_ptr<DeviceModel> random_model(const ModelConfig& config, DType dtype, uint64_t seed,
                                          WeightFormat format = WeightFormat::kBF16);

}  // namespace glmasr::cuda
