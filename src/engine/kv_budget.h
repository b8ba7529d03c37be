// How big a KV slot needs to be for segment transcription, and how many slots a memory budget
// holds. One place for the CLI, the server and the library, which all size slots by need
// instead of the model's 8192 positions.
#pragma once

#include <algorithm>

#include "model/config.h"

namespace glmasr {

// A segment is at most one 30 s window: its audio tokens and the template around them (375 + 15
// for the real model, with room to spare), and a prompt text of up to this many tokens.
inline constexpr int kSegmentAudioAndTemplateTokens = 400;
inline constexpr int kMaxPromptTextTokens = 224;

// Positions a sequence of one segment may occupy: audio, template, prompt text (room for
// kMaxPromptTextTokens, or for a known longer prompt), new tokens.
inline int segment_sequence_positions(const ModelConfig& config, int max_new_tokens,
                                      int prompt_text_tokens = 0) {
  return std::min(config.decoder.max_positions,
                  kSegmentAudioAndTemplateTokens +
                      std::max(kMaxPromptTextTokens, prompt_text_tokens) + max_new_tokens);
}

// Bytes one position of one sequence takes on the GPU: K and V of every layer, 16-bit.
inline double kv_bytes_per_position(const ModelConfig& config) {
  const DecoderConfig& d = config.decoder;
  return 2.0 * d.num_layers * d.num_kv_heads * d.head_dim * 2;
}

// Slots of `positions` that `gigabytes` (GiB) of KV cache hold.
inline int kv_slots_in_budget(const ModelConfig& config, int positions, double gigabytes) {
  return static_cast<int>(gigabytes * double(1 << 30) /
                          (positions * kv_bytes_per_position(config)));
}

}  // namespace glmasr
