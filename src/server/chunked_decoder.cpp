#include "server/chunked_decoder.h"

#include <cctype>

#include "core/error.h"
#include "server/http_message.h"

namespace glmasr::server {

namespace {

// A size line is hex digits and optional extensions; real clients send a few bytes.
constexpr size_t kMaxLineBytes = 4096;
// 15 hex digits stay below 2^60, so the size cannot overflow while it is parsed.
constexpr size_t kMaxSizeDigits = 15;

}  // namespace

ChunkedDecoder::ChunkedDecoder(size_t max_body_bytes) : max_body_bytes_(max_body_bytes) {}

size_t ChunkedDecoder::feed(std::string_view input) {
  size_t used = 0;
  while (used < input.size() && state_ != State::kDone) {
    if (state_ == State::kData) {
      const size_t n = std::min(chunk_left_, input.size() - used);
      body_.append(input.data() + used, n);
      used += n;
      chunk_left_ -= n;
      if (chunk_left_ == 0) state_ = State::kDataEnd;
      continue;
    }
    // The other states collect one line up to LF (a CR before it is dropped).
    const char c = input[used++];
    if (c != '\n') {
      if (line_.size() >= kMaxLineBytes)
        throw HttpError(400, cat("chunked body: a size or trailer line is longer than ",
                                 kMaxLineBytes, " bytes"));
      line_ += c;
      continue;
    }
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    if (state_ == State::kSizeLine) {
      finish_size_line();
    } else if (state_ == State::kDataEnd) {
      if (!line_.empty())
        throw HttpError(400,
                        "chunked body: expected CRLF after the chunk data, got more data "
                        "than the chunk size announced");
      state_ = State::kSizeLine;
    } else {
      finish_trailer_line();
    }
    line_.clear();
  }
  return used;
}

void ChunkedDecoder::finish_size_line() {
  const size_t end = line_.find_first_of("; \t");
  const std::string digits = line_.substr(0, end);
  if (digits.empty() || digits.size() > kMaxSizeDigits ||
      digits.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
    throw HttpError(400, cat("chunked body: malformed chunk size line '", line_.substr(0, 40),
                             "': expected hexadecimal digits"));
  const size_t size = std::stoull(digits, nullptr, 16);
  if (size > max_body_bytes_ - body_.size())
    throw HttpError(413,
                    cat("request body is larger than the limit of ", max_body_bytes_, " bytes"));
  chunk_left_ = size;
  state_ = size == 0 ? State::kTrailer : State::kData;
}

void ChunkedDecoder::finish_trailer_line() {
  // Trailer fields are read and ignored; the empty line ends the body.
  if (line_.empty()) {
    state_ = State::kDone;
    return;
  }
  if (line_.find(':') == std::string::npos)
    throw HttpError(400, cat("chunked body: malformed trailer line '", line_.substr(0, 40),
                             "': expected 'Name: value'"));
}

}  // namespace glmasr::server
