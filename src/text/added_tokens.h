// Added tokens (the special tokens of a chat model) are found in the raw text before any
// pre-tokenization, as the tokenizers library does: leftmost match first, longest match among
// those starting there; tokens marked "normalized" are searched in a second pass over the text
// left between the first pass's matches. lstrip/rstrip widen a match over adjacent white space;
// single_word drops matches glued to word characters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool single_word = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool special = false;
};

// A piece of the input text: either plain text for the pre-tokenizer (token_id < 0) or the span
// of one matched added token. Offsets are bytes into the text given to split().
struct TextSegment {
  size_t begin = 0;
  size_t end = 0;
  int32_t token_id = -1;
};

class AddedTokenSplitter {
 public:
  AddedTokenSplitter() = default;
  explicit AddedTokenSplitter(const std::vector<AddedToken>& tokens);

  // Splits valid UTF-8 text; empty plain segments are left out.
  std::vector<TextSegment> split(std::string_view text) const;

 private:
  // A byte trie per pass; node 0 is the root.
  struct Trie {
    struct Node {
      std::vector<std::pair<unsigned char, int32_t>> children;
      int32_t token = -1;  // index into tokens_ of the token ending here
    };
    std::vector<Node> nodes;
    bool first_byte[256] = {};
    bool empty() const { return nodes.size() <= 1; }
    void insert(const std::string& content, int32_t token_index);
    // Length of the longest token starting at text[pos] and its index, or {0, -1}.
    std::pair<size_t, int32_t> longest_at(std::string_view text, size_t pos) const;
  };

  void find_matches(const Trie& trie, std::string_view text, size_t base,
                    std::vector<TextSegment>& out) const;

  std::vector<AddedToken> tokens_;
  Trie raw_trie_;         // tokens with normalized = false
  Trie normalized_trie_;  // tokens with normalized = true
};

// Rust regex's Unicode \w (Alphabetic, marks, decimal digits, connector punctuation,
// Join_Control), which the library uses for single_word.
bool is_word_character(char32_t cp);

}  // namespace glmasr
