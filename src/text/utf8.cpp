#include "text/utf8.h"

#include <cstdint>

namespace glmasr {

namespace {

// Range allowed for the second byte after lead byte `lead` (Unicode Table 3-7); the third and
// fourth bytes are always 80..BF. Excludes overlongs, surrogates and code points > U+10FFFF.
void second_byte_range(uint8_t lead, uint8_t& low, uint8_t& high) {
  low = 0x80;
  high = 0xBF;
  if (lead == 0xE0) low = 0xA0;
  if (lead == 0xED) high = 0x9F;
  if (lead == 0xF0) low = 0x90;
  if (lead == 0xF4) high = 0x8F;
}

}  // namespace

Utf8Sequence next_utf8_sequence(std::string_view bytes, size_t pos) {
  const auto lead = static_cast<uint8_t>(bytes[pos]);
  if (lead < 0x80) return {Utf8Sequence::Kind::kValid, 1};
  size_t continuation_bytes = 0;
  if (lead >= 0xC2 && lead <= 0xDF)
    continuation_bytes = 1;
  else if (lead >= 0xE0 && lead <= 0xEF)
    continuation_bytes = 2;
  else if (lead >= 0xF0 && lead <= 0xF4)
    continuation_bytes = 3;
  else
    return {Utf8Sequence::Kind::kInvalid, 1};

  size_t length = 1;
  for (size_t k = 0; k < continuation_bytes; ++k) {
    if (pos + length >= bytes.size()) return {Utf8Sequence::Kind::kTruncated, length};
    uint8_t low = 0x80, high = 0xBF;
    if (k == 0) second_byte_range(lead, low, high);
    const auto byte = static_cast<uint8_t>(bytes[pos + length]);
    if (byte < low || byte > high) return {Utf8Sequence::Kind::kInvalid, length};
    ++length;
  }
  return {Utf8Sequence::Kind::kValid, length};
}

size_t first_invalid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    const Utf8Sequence sequence = next_utf8_sequence(bytes, pos);
    if (sequence.kind != Utf8Sequence::Kind::kValid) return pos;
    pos += sequence.length;
  }
  return bytes.size();
}

bool is_valid_utf8(std::string_view bytes) {
  return first_invalid_utf8(bytes) == bytes.size();
}

size_t decode_utf8_lossy_stable_prefix(std::string_view bytes, std::string& out) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    const Utf8Sequence sequence = next_utf8_sequence(bytes, pos);
    if (sequence.kind == Utf8Sequence::Kind::kTruncated) break;
    if (sequence.kind == Utf8Sequence::Kind::kValid)
      out.append(bytes.substr(pos, sequence.length));
    else
      out.append(kReplacementCharacter);
    pos += sequence.length;
  }
  return pos;
}

std::string decode_utf8_lossy(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  const size_t consumed = decode_utf8_lossy_stable_prefix(bytes, out);
  // What is left is one truncated sequence: a single maximal subpart, so a single U+FFFD.
  if (consumed < bytes.size()) out.append(kReplacementCharacter);
  return out;
}

char32_t decode_code_point(std::string_view bytes, size_t pos, size_t length) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(bytes[pos + k]); };
  switch (length) {
    case 1:
      return byte(0);
    case 2:
      return ((byte(0) & 0x1Fu) << 6) | (byte(1) & 0x3Fu);
    case 3:
      return ((byte(0) & 0x0Fu) << 12) | ((byte(1) & 0x3Fu) << 6) | (byte(2) & 0x3Fu);
    default:
      return ((byte(0) & 0x07u) << 18) | ((byte(1) & 0x3Fu) << 12) | ((byte(2) & 0x3Fu) << 6) |
             (byte(3) & 0x3Fu);
  }
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace glmasr
