// The model's weights on the GPU, uploaded once in the engine's element type (bf16, or fp16 on
// request) into one allocation. Projections that read the same input are fused at upload:
// q|k|v into one [(heads + 2 kv_heads) * head_dim, in] matrix (with a fused bias whose k part
// is zero in the encoder), and the decoder's gate|up into one [2F, D] matrix. Conv weights are
// permuted to [out, 3, in] for the im2col GEMM.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/dtype.h"
#include "cuda/device_buffer.h"
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
};

struct DeviceModel {
  ModelConfig config;
  DType dtype = DType::kBF16;
  DeviceBuffer arena;
  const void *conv1_weight, *conv1_bias, *conv2_weight, *conv2_bias;
  std::vector<DeviceEncoderLayer> encoder_layers;
  const void *encoder_norm_weight, *encoder_norm_bias;
  const void *projector1_weight, *projector1_bias, *projector2_weight, *projector2_bias;
  const void* embed_tokens;
  std::vector<DeviceDecoderLayer> decoder_layers;
  const void* final_norm_weight;
  const void* lm_head;
  size_t decoder_bytes = 0;  // bytes a decoding step reads: decoder layers + final norm + lm_head
};

// Uploads checkpoint weights (any float dtype) converted to `dtype` (BF16 or F16).
std::unique_ptr<DeviceModel> upload_model(const ModelConfig& config, const ModelWeights& weights,
                                          DType dtype);
// Random weights of the config's shapes (for benchmarks): linear weights uniform in
// +-1/sqrt(in), norm weights near 1, biases and embeddings small. Deterministic in `seed`.
std::unique_ptr<DeviceModel> random_model(const ModelConfig& config, DType dtype, uint64_t seed);

}  // namespace glmasr::cuda
