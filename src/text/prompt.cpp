#include "text/prompt.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "audio/features.h"
#include "core/error.h"
#include "io/json_file.h"
#include "model/audio_tokens.h"

namespace glmasr {

std::string render_prompt(int64_t audio_tokens, std::string_view prompt_text) {
  GLMASR_CHECK(audio_tokens >= 0, "prompt: expected a non-negative audio token count, got ",
               audio_tokens);
  std::string text = "<|user|>\n<|begin_of_audio|>";
  text.reserve(text.size() + audio_tokens * kAudioPlaceholder.size() + prompt_text.size() + 64);
  for (int64_t i = 0; i < audio_tokens; ++i) text += kAudioPlaceholder;
  text += "<|end_of_audio|><|user|>\n";
  text += prompt_text;
  text += "<|assistant|>\n";
  return text;
}

std::vector<int32_t> build_prompt_ids(const Tokenizer& tokenizer, int64_t audio_tokens,
                                      std::string_view prompt_text, int32_t audio_token_id) {
  const int32_t placeholder_id = tokenizer.require_token_id(kAudioPlaceholder);
  GLMASR_CHECK(placeholder_id == audio_token_id, tokenizer.source(), ": expected '",
               kAudioPlaceholder, "' to have the config's audio_token_id ", audio_token_id,
               ", got ", placeholder_id);
  for (const char* marker : {"<|user|>", "<|begin_of_audio|>", "<|end_of_audio|>", "<|assistant|>"})
    tokenizer.require_token_id(marker);
  // The rendered template tokenized as one string, as the processor does, except that the
  // user's text is plain text: an added-token string in it ("<|pad|>") stays characters, so a
  // prompt can never add audio placeholders or end the turn. The pieces split where added
  // tokens split the whole string anyway, so ordinary prompts give the processor's ids.
  const std::string rendered = render_prompt(audio_tokens, "");
  const size_t text_at = rendered.rfind("<|assistant|>");
  const size_t user_at = rendered.rfind("<|user|>") + std::string_view("<|user|>").size();
  std::vector<int32_t> ids = tokenizer.encode(std::string_view(rendered).substr(0, user_at));
  const std::vector<int32_t> text = tokenizer.encode_plain_text(
      std::string(rendered.substr(user_at, text_at - user_at)) + std::string(prompt_text));
  ids.insert(ids.end(), text.begin(), text.end());
  const std::vector<int32_t> tail = tokenizer.encode(std::string_view(rendered).substr(text_at));
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

int64_t audio_token_count(int64_t samples, int64_t merge_factor) {
  GLMASR_CHECK(samples >= 0, "audio: expected a non-negative sample count, got ", samples);
  GLMASR_CHECK(merge_factor > 0, "audio: expected a positive merge factor, got ", merge_factor);
  const int64_t windows = std::max<int64_t>(1, (samples + kWindowSamples - 1) / kWindowSamples);
  GLMASR_CHECK(windows <= kMaxWindows, "audio of ", static_cast<double>(samples) / kSampleRate,
               " s: expected at most ", kMaxWindows * kWindowSeconds, " s (", kMaxWindows,
               " windows of ", kWindowSeconds, " s)");
  int64_t tokens = 0;
  for (int64_t window = 0; window < windows; ++window) {
    const int64_t window_samples = std::min(kWindowSamples, samples - window * kWindowSamples);
    tokens += audio_tokens_for_frames(valid_mel_frames(window_samples), merge_factor);
  }
  return tokens;
}

}  // namespace glmasr
