// LocalAgreement-2 (whisper_streaming, arXiv 2307.14743): of two consecutive hypotheses of the
// same growing audio, the leading words both contain are unlikely to change again. Used for the
// interim results of an open turn.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace glmasr::stream {

// Words with their leading white space ("Hello", " world", ","...): white space starts a new
// word, and each CJK ideograph, kana or Hangul syllable (written without spaces) is a word.
std::vector<std::string_view> split_words(std::string_view text);

// The longest run of whole leading words `previous` and `current` share, as spelled in
// `current` (empty when the first words differ).
std::string agreed_prefix(std::string_view previous, std::string_view current);

}  // namespace glmasr::stream
