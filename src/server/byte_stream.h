// The connection as the request reader sees it: a source of bytes with timeouts and a sink for
// interim responses. The socket implements it; tests use strings.
#pragma once

#include <cstddef>
#include <string_view>

namespace glmasr::server {

class ByteStream {
 public:
  virtual ~ByteStream() = default;

  enum class ReadStatus { kData, kEof, kTimeout };
  struct ReadResult {
    ReadStatus status = ReadStatus::kEof;
    size_t bytes = 0;  // > 0 with kData
  };
  // Waits up to `timeout_ms` for some bytes. kTimeout also when the server is shutting down.
  virtual ReadResult read_some(char* buffer, size_t capacity, int timeout_ms) = 0;
  // Writes everything or throws glmasr::Error (peer gone, write timeout).
  virtual void write_all(std::string_view bytes) = 0;
};

}  // namespace glmasr::server
