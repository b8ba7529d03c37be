// Splitting text on a regular expression the way the tokenizers library's Split pre-tokenizer
// does with behavior "Isolated": every match and every stretch between matches is its own piece.
//
// The tokenizers library runs Oniguruma; we run PCRE2 in UTF + UCP mode, which agrees on the
// patterns byte-level BPE tokenizers use (\p{L}, \p{N}, (?i:...), look-ahead) except for \s:
// PCRE2 also counts U+180E as space. Patterns are rewritten so that \s and \S mean Oniguruma's
// (Unicode White_Space) set.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

class RegexSplitter {
 public:
  // Compiles `pattern` once (JIT when available). `source` names where the pattern came from
  // for error messages. Throws glmasr::Error for a pattern PCRE2 rejects.
  RegexSplitter(const std::string& pattern, const std::string& source);
  ~RegexSplitter();
  RegexSplitter(RegexSplitter&&) noexcept;
  RegexSplitter& operator=(RegexSplitter&&) noexcept;

  // Appends the non-empty Isolated pieces of `text` (valid UTF-8, not re-checked) to `pieces`.
  // The views point into `text`.
  void split(std::string_view text, std::vector<std::string_view>& pieces) const;

  const std::string& pattern() const { return pattern_; }

 private:
  struct Compiled;
  std::string pattern_;
  std::unique_ptr<Compiled> compiled_;
};

// The pattern with \s and \S replaced by explicit Unicode White_Space classes (see above).
std::string with_unicode_white_space(const std::string& pattern);

// Unicode White_Space, the set Rust's and Oniguruma's \s match.
bool is_unicode_white_space(char32_t cp);

}  // namespace glmasr
