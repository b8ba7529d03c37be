#include "text/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <mutex>

#include "core/error.h"
#include "text/utf8.h"

namespace glmasr {

namespace {

// Members of the White_Space set, as they go inside a PCRE2 character class.
constexpr std::string_view kWhiteSpaceClassBody =
    "\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}"
    "\\x{202F}\\x{205F}\\x{3000}";

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof buffer);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

bool is_unicode_white_space(char32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

std::string with_unicode_white_space(const std::string& pattern) {
  std::string out;
  bool in_class = false;
  bool class_just_opened = false;  // a ']' right after '[' or '[^' is a literal
  for (size_t i = 0; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      const char escaped = pattern[i + 1];
      ++i;
      class_just_opened = false;
      if (escaped == 's') {
        out += in_class ? std::string(kWhiteSpaceClassBody) : cat("[", kWhiteSpaceClassBody, "]");
      } else if (escaped == 'S' && !in_class) {
        out += cat("[^", kWhiteSpaceClassBody, "]");
      } else {
        // \S inside a class has no simple rewrite and keeps PCRE2's meaning.
        out += c;
        out += escaped;
      }
      continue;
    }
    out += c;
    if (!in_class && c == '[') {
      in_class = true;
      class_just_opened = true;
      if (i + 1 < pattern.size() && pattern[i + 1] == '^') out += pattern[++i];
      continue;
    }
    if (in_class && c == '[' && i + 1 < pattern.size() && pattern[i + 1] == ':') {
      // POSIX class such as [:alpha:]: copy through its closing ":]".
      const size_t end = pattern.find(":]", i + 2);
      if (end != std::string::npos) {
        out.append(pattern, i + 1, end + 2 - (i + 1));
        i = end + 1;
      }
      class_just_opened = false;
      continue;
    }
    if (in_class && c == ']' && !class_just_opened) in_class = false;
    class_just_opened = false;
  }
  return out;
}

struct RegexSplitter::Compiled {
  pcre2_code* code = nullptr;
  bool jit = false;
  ~Compiled() {
    if (code) pcre2_code_free(code);
  }
};

RegexSplitter::RegexSplitter(const std::string& pattern, const std::string& source)
    : pattern_(pattern), compiled_(std::make_unique<Compiled>()) {
  const std::string rewritten = with_unicode_white_space(pattern);
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(rewritten.data()), rewritten.size(),
                                  PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  GLMASR_CHECK(compiled_->code, source, ": cannot compile regex '", pattern,
               "': ", pcre2_message(error_code), " at offset ", error_offset);
  compiled_->jit = pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() = default;
RegexSplitter::RegexSplitter(RegexSplitter&&) noexcept = default;
RegexSplitter& RegexSplitter::operator=(RegexSplitter&&) noexcept = default;

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  if (text.empty()) return;
  // One match block per thread and pattern would save an allocation per call; the allocation
  // is small next to the matching, so keep it simple and thread-safe.
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  GLMASR_CHECK(match, "regex split: out of memory");
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t previous_end = 0;
  size_t search_from = 0;
  while (search_from < text.size()) {
    // The text was validated once by the caller; without NO_UTF_CHECK PCRE2 would re-validate
    // the whole subject on every call, making a split quadratic.
    const int rc = pcre2_match(compiled_->code, subject, text.size(), search_from,
                               PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    GLMASR_CHECK(rc > 0, "regex split with '", pattern_, "': ", pcre2_message(rc));
    const PCRE2_SIZE* offsets = pcre2_get_ovector_pointer(match.get());
    const size_t start = offsets[0], end = offsets[1];
    if (end == start) {
      // An empty match still cuts the text there (the library keeps the pieces either side of
      // it apart); step over one character so the search moves on.
      if (start > previous_end) pieces.push_back(text.substr(previous_end, start - previous_end));
      previous_end = start;
      search_from = start + next_utf8_sequence(text, start).length;
      continue;
    }
    if (start > previous_end) pieces.push_back(text.substr(previous_end, start - previous_end));
    pieces.push_back(text.substr(start, end - start));
    previous_end = search_from = end;
  }
  if (previous_end < text.size()) pieces.push_back(text.substr(previous_end));
}

}  // namespace glmasr
