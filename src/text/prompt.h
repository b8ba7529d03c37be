// The model's prompt (spec §5, §14): the chat template rendered for one user turn holding the
// audio followed by the prompt text, with the audio placeholder repeated once per audio token,
// then tokenized as one string as the transformers processor does.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "text/tokenizer.h"

namespace glmasr {

inline constexpr std::string_view kDefaultPromptText = "Please transcribe this audio into text";
inline constexpr std::string_view kAudioPlaceholder = "<|pad|>";

// `<|user|>\n<|begin_of_audio|>` + audio_tokens x `<|pad|>` + `<|end_of_audio|><|user|>\n` +
// prompt_text + `<|assistant|>\n`.
std::string render_prompt(int64_t audio_tokens, std::string_view prompt_text);

// encode(render_prompt(...)). Checks that the tokenizer's "<|pad|>" is `audio_token_id` (the
// config's), since the engine overwrites the embeddings of exactly those positions.
std::vector<int32_t> build_prompt_ids(const Tokenizer& tokenizer, int64_t audio_tokens,
                                      std::string_view prompt_text, int32_t audio_token_id);

// Audio tokens the processor gives `samples` samples of 16 kHz audio: per 30 s window (the last
// one shorter), valid mel frames -> tokens, summed. Throws when the audio needs more than
// kMaxWindows windows (the processor's 630 s cap), saying how long it was.
int64_t audio_token_count(int64_t samples, int64_t merge_factor);

}  // namespace glmasr
