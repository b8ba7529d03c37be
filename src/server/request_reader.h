// Reads one HTTP request after another from a connection, with limits on the head and body and
// timeouts, so that neither a huge upload nor a stalled client can exhaust the server.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "server/byte_stream.h"
#include "server/http_message.h"

namespace glmasr::server {

struct RequestLimits {
  size_t max_head_bytes = 64 * 1024;
  size_t max_body_bytes = 200u << 20;
  int idle_timeout_ms = 5000;   // waiting for the first byte of a request (keep-alive)
  int read_timeout_ms = 30000;  // waiting for each further piece of a started request
};

class RequestReader {
 public:
  RequestReader(ByteStream& stream, RequestLimits limits);

  // The next request, or nullopt when the peer closed (or stayed silent past the idle timeout)
  // before sending any byte of one. Throws HttpError: 400 malformed or cut short, 408 timed out
  // mid-request, 413 body over the limit (from Content-Length before reading the body),
  // 431 head too large. After a throw the connection must be closed.
  std::optional<HttpRequest> read_next();

 private:
  // Appends whatever arrives within the timeout; false on EOF.
  bool fill(int timeout_ms, const char* what);
  void read_length_body(HttpRequest& request, size_t length);
  void read_chunked_body(HttpRequest& request);

  ByteStream& stream_;
  RequestLimits limits_;
  std::string buffer_;  // received bytes not yet consumed (pipelined requests stay here)
};

}  // namespace glmasr::server
