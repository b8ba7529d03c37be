#include "server/request_reader.h"

#include "server/chunked_decoder.h"

namespace glmasr::server {

namespace {
constexpr size_t kReadBlock = 64 * 1024;
}

RequestReader::RequestReader(ByteStream& stream, RequestLimits limits)
    : stream_(stream), limits_(limits) {}

bool RequestReader::fill(int timeout_ms, const char* what) {
  char block[kReadBlock];
  const ByteStream::ReadResult got = stream_.read_some(block, sizeof block, timeout_ms);
  if (got.status == ByteStream::ReadStatus::kTimeout)
    throw HttpError(408, cat("timed out after ", timeout_ms / 1000.0, " s waiting for ", what));
  if (got.status == ByteStream::ReadStatus::kEof) return false;
  buffer_.append(block, got.bytes);
  return true;
}

std::optional<HttpRequest> RequestReader::read_next() {
  if (buffer_.empty()) {
    // Silence or a close before a request starts is the normal end of a keep-alive connection.
    char block[kReadBlock];
    const ByteStream::ReadResult got =
        stream_.read_some(block, sizeof block, limits_.idle_timeout_ms);
    if (got.status != ByteStream::ReadStatus::kData) return std::nullopt;
    buffer_.append(block, got.bytes);
  }
  std::optional<size_t> head_end;
  while (!(head_end = find_head_end(buffer_))) {
    if (buffer_.size() > limits_.max_head_bytes) break;
    if (!fill(limits_.read_timeout_ms, "the request head"))
      throw HttpError(400, cat("connection closed after ", buffer_.size(),
                               " bytes, in the middle of the request head"));
  }
  if (!head_end || *head_end > limits_.max_head_bytes)
    throw HttpError(
        431, cat("request head is larger than the limit of ", limits_.max_head_bytes, " bytes"));
  HttpRequest request = parse_request_head(std::string_view(buffer_).substr(0, *head_end));
  buffer_.erase(0, *head_end);

  const BodyFraming framing = body_framing(request);
  if (framing.kind == BodyFraming::Kind::kLength && framing.length > limits_.max_body_bytes)
    throw HttpError(413,
                    cat("request body of ", framing.length, " bytes is larger than the limit of ",
                        limits_.max_body_bytes, " bytes"));
  const bool has_body = framing.kind == BodyFraming::Kind::kChunked ||
                        (framing.kind == BodyFraming::Kind::kLength && framing.length > 0);
  // The client waits for this before sending the body; sent only once the limits passed.
  if (has_body && request.expects_continue() && buffer_.empty())
    stream_.write_all("HTTP/1.1 100 Continue\r\n\r\n");
  if (framing.kind == BodyFraming::Kind::kLength) read_length_body(request, framing.length);
  if (framing.kind == BodyFraming::Kind::kChunked) read_chunked_body(request);
  return request;
}

void RequestReader::read_length_body(HttpRequest& request, size_t length) {
  while (buffer_.size() < length) {
    if (!fill(limits_.read_timeout_ms, "the request body"))
      throw HttpError(400, cat("connection closed after ", buffer_.size(), " of ", length,
                               " body bytes (Content-Length)"));
  }
  request.body = buffer_.substr(0, length);
  buffer_.erase(0, length);
}

void RequestReader::read_chunked_body(HttpRequest& request) {
  ChunkedDecoder decoder(limits_.max_body_bytes);
  for (;;) {
    const size_t used = decoder.feed(buffer_);
    buffer_.erase(0, used);
    if (decoder.done()) break;
    if (!fill(limits_.read_timeout_ms, "the chunked request body"))
      throw HttpError(400, "connection closed in the middle of a chunked request body");
  }
  request.body = decoder.take_body();
}

}  // namespace glmasr::server
