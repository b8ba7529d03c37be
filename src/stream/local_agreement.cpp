#include "stream/local_agreement.h"

#include <cstdint>

namespace glmasr::stream {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

// The code point starting at `at` and its length in bytes (1 for a stray byte).
char32_t decode_at(std::string_view text, size_t at, size_t& length) {
  const auto byte = static_cast<unsigned char>(text[at]);
  length = byte < 0x80         ? 1
           : byte >> 5 == 0x6  ? 2
           : byte >> 4 == 0xe  ? 3
           : byte >> 3 == 0x1e ? 4
                               : 1;
  if (at + length > text.size()) length = 1;
  if (length == 1) return byte;
  char32_t cp = byte & (0x7f >> length);
  for (size_t i = 1; i < length; ++i)
    cp = cp << 6 | (static_cast<unsigned char>(text[at + i]) & 0x3f);
  return cp;
}

bool is_unspaced_script(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30ff) ||                                    // kana
         (cp >= 0x3400 && cp <= 0x4dbf) || (cp >= 0x4e00 && cp <= 0x9fff) ||  // ideographs
         (cp >= 0xac00 && cp <= 0xd7af) ||                                    // Hangul
         (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x20000 && cp <= 0x3134f);
}

}  // namespace

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  size_t start = 0;
  bool has_text = false;  // the word being built has a non-space character
  for (size_t at = 0; at < text.size();) {
    size_t length = 1;
    const char32_t cp = decode_at(text, at, length);
    const bool space = length == 1 && is_space(text[at]);
    const bool alone = is_unspaced_script(cp);
    if ((space || alone) && has_text) {  // the word before ends here
      words.push_back(text.substr(start, at - start));
      start = at;
      has_text = false;
    }
    if (!space) has_text = true;
    at += length;
    if (alone) {  // a word of its own (with any white space before it)
      words.push_back(text.substr(start, at - start));
      start = at;
      has_text = false;
    }
  }
  if (start < text.size()) words.push_back(text.substr(start));
  return words;
}

std::string agreed_prefix(std::string_view previous, std::string_view current) {
  const auto before = split_words(previous);
  const auto now = split_words(current);
  std::string agreed;
  for (size_t i = 0; i < before.size() && i < now.size() && before[i] == now[i]; ++i)
    agreed += now[i];
  return agreed;
}

}  // namespace glmasr::stream
