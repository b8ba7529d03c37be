// For GPU tests of fp8 weights: every fp8 matrix of a device model (each layer's fused QKV,
// o_proj, gate|up and down, then lm_head) with its codes, scales, dequantized copy and shape.
#pragma once

#include <cstdint>
#include <vector>

#include "cuda/engine/device_model.h"

namespace glmasr::gpu_test {

struct Fp8Projection {
  const char* name;
  const void* codes;
  const float* scales;
  const void* dequantized;
  int64_t rows, cols;
};

inline std::vector<Fp8Projection> fp8_projections(const cuda::DeviceModel& model) {
  const DecoderConfig& dec = model.config.decoder;
  const int64_t d = dec.hidden_size, f = dec.intermediate_size;
  const int64_t q = int64_t{dec.num_heads} * dec.head_dim;
  const int64_t width = int64_t{dec.num_heads + 2 * dec.num_kv_heads} * dec.head_dim;
  std::vector<Fp8Projection> out;
  for (const cuda::DeviceDecoderLayer& L : model.decoder_layers) {
    out.push_back({"qkv", L.qkv_weight, L.qkv_scale, L.qkv_dequantized, width, d});
    out.push_back({"o", L.o_weight, L.o_scale, L.o_dequantized, d, q});
    out.push_back({"gate_up", L.gate_up_weight, L.gate_up_scale, L.gate_up_dequantized, 2 * f, d});
    out.push_back({"down", L.down_weight, L.down_scale, L.down_dequantized, d, f});
  }
  out.push_back({"lm_head", model.lm_head, model.lm_head_scale, model.lm_head_dequantized,
                 dec.vocab_size, d});
  return out;
}

}  // namespace glmasr::gpu_test
