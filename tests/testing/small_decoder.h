// For GPU tests on random weights: a decoder of a given shape with a small encoder beside it
// (cuda::random_model fills both), and a prompt of ids below the audio token.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "model/config.h"

namespace glmasr::gpu_test {

struct DecoderShape {
  const char* name;
  int hidden, intermediate, layers, heads, kv_heads, head_dim, vocab;
  DType dtype;
};

inline ModelConfig config_of(const DecoderShape& s) {
  ModelConfig c;
  DecoderConfig& d = c.decoder;
  d.vocab_size = s.vocab;
  d.hidden_size = s.hidden;
  d.intermediate_size = s.intermediate;
  d.num_layers = s.layers;
  d.num_heads = s.heads;
  d.num_kv_heads = s.kv_heads;
  d.head_dim = s.head_dim;
  d.max_positions = 2048;
  // A small encoder: random_model fills it too.
  EncoderConfig& e = c.encoder;
  e.num_mel_bins = 8;
  e.hidden_size = 16;
  e.intermediate_size = 64;
  e.num_layers = 1;
  e.num_heads = 2;
  e.num_kv_heads = 2;
  e.head_dim = 8;
  e.rotary_dim = 8;
  e.merge_factor = 4;
  c.projector = {64, 2 * s.hidden, s.hidden};
  c.audio_token_id = s.vocab - 1;
  return c;
}

inline std::vector<int32_t> prompt_of(int length, int vocab) {
  std::vector<int32_t> ids(static_cast<size_t>(length));
  for (int i = 0; i < length; ++i) ids[i] = (i * 7919 + 13) % (vocab - 1);
  return ids;
}

}  // namespace glmasr::gpu_test
