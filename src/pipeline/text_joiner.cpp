#include "pipeline/text_joiner.h"

#include "core/strings.h"
#include "text/utf8.h"

namespace glmasr {

namespace {

// Whether a code point is a CJK ideograph or kana, which take no spaces.
bool is_cjk(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x3400 && cp <= 0x9fff) ||
         (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0xff00 && cp <= 0xffef) ||
         (cp >= 0x3000 && cp <= 0x303f);
}

// The code point that starts at `pos` (0 when it is not a whole, well-formed character).
char32_t code_point_at(std::string_view s, size_t pos) {
  if (pos >= s.size()) return 0;
  const Utf8Sequence seq = next_utf8_sequence(s, pos);
  return seq.kind == Utf8Sequence::Kind::kValid ? decode_code_point(s, pos, seq.length) : 0;
}

char32_t last_code_point(std::string_view s) {
  size_t i = s.size();
  while (i > 0 && (static_cast<unsigned char>(s[i - 1]) & 0xc0) == 0x80) --i;
  return i == 0 ? 0 : code_point_at(s, i - 1);
}

}  // namespace

TextJoiner::TextJoiner(std::function<void(std::string_view)> emit) : emit_(std::move(emit)) {}

void TextJoiner::emit(std::string_view delta) {
  if (delta.empty()) return;
  out_ += delta;
  if (emit_) emit_(delta);
}

void TextJoiner::append(std::string_view piece) {
  size_t i = 0;
  while (i < piece.size()) {
    // White space is held until text follows it inside this segment.
    size_t j = i;
    while (j < piece.size() && is_ascii_space(piece[j])) ++j;
    held_.append(piece.substr(i, j - i));
    if (j == piece.size()) return;
    size_t k = j;
    while (k < piece.size() && !is_ascii_space(piece[k])) ++k;
    const std::string_view text = piece.substr(j, k - j);
    if (!segment_has_text_) {
      // The start of a piece: after earlier text, the segment's leading space gives way to the
      // separator; the very first piece keeps it.
      if (!out_.empty()) {
        held_ = is_cjk(last_code_point(out_)) && is_cjk(code_point_at(text, 0)) ? "" : " ";
      }
      segment_has_text_ = true;
    }
    emit(held_);
    held_.clear();
    emit(text);
    i = k;
  }
}

void TextJoiner::end_segment() {
  if (segment_has_text_) trailing_ = held_;
  held_.clear();
  segment_has_text_ = false;
}

void TextJoiner::finish() {
  end_segment();
  emit(trailing_);
  trailing_.clear();
}

std::string join_segment_texts(const std::vector<std::string>& texts) {
  TextJoiner joiner;
  for (const std::string& text : texts) {
    joiner.append(text);
    joiner.end_segment();
  }
  joiner.finish();
  return joiner.text();
}

}  // namespace glmasr
