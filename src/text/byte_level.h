// The GPT-2 "bytes_to_unicode" alphabet of byte-level BPE: every byte value maps to one
// printable code point (printable Latin-1 bytes to themselves, the rest to U+0100 + n), so any
// byte string becomes a string of visible characters that BPE vocabularies are written in.
#pragma once

#include <string>
#include <string_view>

namespace glmasr {

// UTF-8 encoding of the code point that byte `b` maps to.
const std::string& byte_level_char(unsigned char b);

// The byte that code point `cp` stands for, or -1 when cp is not in the alphabet.
int byte_level_byte(char32_t cp);

// Maps every byte of `bytes` to its byte-level character.
std::string bytes_to_byte_level(std::string_view bytes);

// Maps a byte-level string back to bytes, appending them to `out`. Returns false (leaving `out`
// unchanged) when some character is not in the alphabet, as the tokenizers library then keeps
// that token's text as it is. `text` must be valid UTF-8.
bool byte_level_to_bytes(std::string_view text, std::string& out);

}  // namespace glmasr
