#include "text/added_tokens.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

#include "core/error.h"
#include "text/regex_splitter.h"
#include "text/utf8.h"

namespace glmasr {

namespace {

// Code point that ends at text[end) (end > 0, valid UTF-8).
char32_t code_point_before(std::string_view text, size_t end) {
  size_t begin = end - 1;
  while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
  return decode_code_point(text, begin, end - begin);
}

char32_t code_point_at(std::string_view text, size_t pos, size_t* length) {
  *length = next_utf8_sequence(text, pos).length;
  return decode_code_point(text, pos, *length);
}

// Start of the run of white space that ends at `end`.
size_t white_space_run_start(std::string_view text, size_t end) {
  while (end > 0) {
    size_t begin = end - 1;
    while (begin > 0 && (static_cast<unsigned char>(text[begin]) & 0xC0) == 0x80) --begin;
    if (!is_unicode_white_space(decode_code_point(text, begin, end - begin))) break;
    end = begin;
  }
  return end;
}

// End of the run of white space that starts at `begin`.
size_t white_space_run_end(std::string_view text, size_t begin) {
  while (begin < text.size()) {
    size_t length = 0;
    if (!is_unicode_white_space(code_point_at(text, begin, &length))) break;
    begin += length;
  }
  return begin;
}

}  // namespace

bool is_word_character(char32_t cp) {
  if (cp < 0x80) {
    return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ||
           cp == '_';
  }
  // Compiled once; a failure to compile would be a PCRE2 without Unicode support.
  static pcre2_code* const word_class = [] {
    const std::string pattern = "^[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{Join_Control}]";
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    return pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                         PCRE2_UTF | PCRE2_UCP, &error_code, &error_offset, nullptr);
  }();
  GLMASR_CHECK(word_class, "PCRE2 lacks Unicode property support");
  std::string encoded;
  append_utf8(cp, encoded);
  pcre2_match_data* match = pcre2_match_data_create(1, nullptr);
  const int rc = pcre2_match(word_class, reinterpret_cast<PCRE2_SPTR>(encoded.data()),
                             encoded.size(), 0, 0, match, nullptr);
  pcre2_match_data_free(match);
  return rc > 0;
}

void AddedTokenSplitter::Trie::insert(const std::string& content, int32_t token_index) {
  if (nodes.empty()) nodes.emplace_back();
  int32_t node = 0;
  for (unsigned char byte : content) {
    int32_t child = -1;
    for (const auto& [edge, target] : nodes[node].children)
      if (edge == byte) child = target;
    if (child < 0) {
      child = static_cast<int32_t>(nodes.size());
      nodes[node].children.emplace_back(byte, child);
      nodes.emplace_back();
    }
    node = child;
  }
  // Two tokens with the same content: the library keeps one id per content, the later one.
  nodes[node].token = token_index;
  first_byte[static_cast<unsigned char>(content[0])] = true;
}

std::pair<size_t, int32_t> AddedTokenSplitter::Trie::longest_at(std::string_view text,
                                                                size_t pos) const {
  std::pair<size_t, int32_t> best{0, -1};
  int32_t node = 0;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    int32_t child = -1;
    for (const auto& [edge, target] : nodes[node].children)
      if (edge == byte) child = target;
    if (child < 0) break;
    node = child;
    if (nodes[node].token >= 0) best = {i + 1 - pos, nodes[node].token};
  }
  return best;
}

AddedTokenSplitter::AddedTokenSplitter(const std::vector<AddedToken>& tokens) : tokens_(tokens) {
  raw_trie_.nodes.emplace_back();
  normalized_trie_.nodes.emplace_back();
  for (size_t i = 0; i < tokens_.size(); ++i) {
    if (tokens_[i].content.empty()) continue;  // the library ignores empty tokens
    (tokens_[i].normalized ? normalized_trie_ : raw_trie_)
        .insert(tokens_[i].content, static_cast<int32_t>(i));
  }
}

// Mirrors the library's find_matches: matches come from a leftmost-longest scan that ignores
// the lstrip/rstrip widening, which is applied afterwards.
void AddedTokenSplitter::find_matches(const Trie& trie, std::string_view text, size_t base,
                                      std::vector<TextSegment>& out) const {
  size_t segment_start = 0;  // the library's start_offset
  size_t pos = 0;
  while (pos < text.size()) {
    if (!trie.first_byte[static_cast<unsigned char>(text[pos])]) {
      ++pos;
      continue;
    }
    const auto [length, token_index] = trie.longest_at(text, pos);
    if (token_index < 0) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + length;
    pos = stop;
    const AddedToken& token = tokens_[token_index];
    if (token.single_word) {
      const bool space_before = start == 0 || !is_word_character(code_point_before(text, start));
      size_t ignored = 0;
      const bool space_after =
          stop == text.size() || !is_word_character(code_point_at(text, stop, &ignored));
      if (!space_before || !space_after) continue;
    }
    if (token.lstrip) start = std::max(white_space_run_start(text, start), segment_start);
    if (token.rstrip) stop = white_space_run_end(text, stop);
    stop = std::max(stop, start);  // only an all-space token could invert them; keep it sane
    if (segment_start < start) out.push_back({base + segment_start, base + start, -1});
    out.push_back({base + start, base + stop, token.id});
    segment_start = stop;
  }
  if (segment_start < text.size()) out.push_back({base + segment_start, base + text.size(), -1});
}

std::vector<TextSegment> AddedTokenSplitter::split(std::string_view text) const {
  std::vector<TextSegment> first_pass;
  if (raw_trie_.empty())
    first_pass.push_back({0, text.size(), -1});
  else
    find_matches(raw_trie_, text, 0, first_pass);
  if (normalized_trie_.empty()) {
    std::erase_if(first_pass, [](const TextSegment& s) { return s.begin == s.end; });
    return first_pass;
  }
  std::vector<TextSegment> segments;
  for (const TextSegment& segment : first_pass) {
    if (segment.token_id >= 0) {
      segments.push_back(segment);
      continue;
    }
    find_matches(normalized_trie_, text.substr(segment.begin, segment.end - segment.begin),
                 segment.begin, segments);
  }
  std::erase_if(segments, [](const TextSegment& s) { return s.begin == s.end; });
  return segments;
}

}  // namespace glmasr
