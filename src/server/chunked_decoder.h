// Incremental decoder of the HTTP/1.1 chunked transfer coding (RFC 9112 §7.1). It is fed bytes
// as they arrive and enforces the body limit as soon as a chunk size announces too much, so an
// oversized chunked upload is refused without reading it.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace glmasr::server {

class ChunkedDecoder {
 public:
  explicit ChunkedDecoder(size_t max_body_bytes);

  // Consumes bytes from the start of `input` and returns how many it used: all of them unless
  // the body ends inside `input` (the rest belongs to the next request). Throws HttpError 400
  // for malformed framing and 413 when the decoded body would exceed the limit.
  size_t feed(std::string_view input);

  bool done() const { return state_ == State::kDone; }
  const std::string& body() const { return body_; }
  std::string take_body() { return std::move(body_); }

 private:
  enum class State { kSizeLine, kData, kDataEnd, kTrailer, kDone };

  void finish_size_line();
  void finish_trailer_line();

  size_t max_body_bytes_;
  State state_ = State::kSizeLine;
  std::string line_;       // the size or trailer line being collected
  size_t chunk_left_ = 0;  // data bytes of the current chunk still to come
  std::string body_;
};

}  // namespace glmasr::server
