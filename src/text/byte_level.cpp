#include "text/byte_level.h"

#include <array>

#include "text/utf8.h"

namespace glmasr {

namespace {

struct ByteLevelAlphabet {
  std::array<char32_t, 256> code_point{};
  std::array<std::string, 256> utf8{};
  std::array<int, 512> byte_of{};  // indexed by code point; the alphabet lies below U+0200

  ByteLevelAlphabet() {
    byte_of.fill(-1);
    const auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next_extra = 256;
    for (int b = 0; b < 256; ++b) {
      code_point[b] = printable(b) ? static_cast<char32_t>(b) : next_extra++;
      append_utf8(code_point[b], utf8[b]);
      byte_of[code_point[b]] = b;
    }
  }
};

const ByteLevelAlphabet& alphabet() {
  static const ByteLevelAlphabet instance;
  return instance;
}

}  // namespace

const std::string& byte_level_char(unsigned char b) {
  return alphabet().utf8[b];
}

int byte_level_byte(char32_t cp) {
  return cp < 512 ? alphabet().byte_of[cp] : -1;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += alphabet().utf8[b];
  return out;
}

bool byte_level_to_bytes(std::string_view text, std::string& out) {
  const size_t original_size = out.size();
  size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Sequence sequence = next_utf8_sequence(text, pos);
    const int byte = sequence.kind == Utf8Sequence::Kind::kValid
                         ? byte_level_byte(decode_code_point(text, pos, sequence.length))
                         : -1;
    if (byte < 0) {
      out.resize(original_size);
      return false;
    }
    out.push_back(static_cast<char>(byte));
    pos += sequence.length;
  }
  return true;
}

}  // namespace glmasr
