// UTF-8 helpers for the tokenizer: validation, lossy decoding with the replacement rules of
// Python's errors='replace' and Rust's from_utf8_lossy (one U+FFFD per maximal invalid
// subpart), and code point iteration.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace glmasr {

inline constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

// What starts at one position of a byte string.
struct Utf8Sequence {
  enum class Kind {
    kValid,      // a complete, well-formed character of `length` bytes
    kInvalid,    // a maximal ill-formed subpart of `length` bytes (becomes one U+FFFD)
    kTruncated,  // a well-formed prefix of `length` bytes cut off by the end of the input
  };
  Kind kind;
  size_t length;
};

// Classifies the sequence starting at bytes[pos] (pos < bytes.size()).
Utf8Sequence next_utf8_sequence(std::string_view bytes, size_t pos);

// True when `bytes` is well-formed UTF-8.
bool is_valid_utf8(std::string_view bytes);

// Byte offset of the first ill-formed or truncated sequence, or bytes.size() when valid.
size_t first_invalid_utf8(std::string_view bytes);

// Decodes bytes to well-formed UTF-8, each maximal ill-formed subpart becoming U+FFFD.
std::string decode_utf8_lossy(std::string_view bytes);

// Appends the decoded form of the longest prefix of `bytes` whose decoding cannot change when
// more bytes follow: everything except a trailing truncated sequence. Returns the number of
// bytes consumed. Used by streaming decoders so they never emit half a character.
size_t decode_utf8_lossy_stable_prefix(std::string_view bytes, std::string& out);

// Decodes the code point of a well-formed sequence of `length` bytes at bytes[pos].
char32_t decode_code_point(std::string_view bytes, size_t pos, size_t length);

// Appends the UTF-8 encoding of a code point.
void append_utf8(char32_t code_point, std::string& out);

}  // namespace glmasr
