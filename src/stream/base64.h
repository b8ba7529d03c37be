// Strict standard base64 (RFC 4648 section 4, with padding), as the Realtime protocol carries
// audio in input_audio_buffer.append.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace glmasr::stream {

// The decoded bytes, or nullopt when `text` is not base64: a length that is not a multiple of
// 4, a character outside the alphabet, or padding anywhere but at the end.
std::optional<std::string> decode_base64(std::string_view text);
std::string encode_base64(std::string_view bytes);

}  // namespace glmasr::stream
