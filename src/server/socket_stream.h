// ByteStream over a connected socket: reads wait with poll() on the socket and on the server's
// stop pipe, so a shutdown wakes every connection thread at once.
#pragma once

#include "server/byte_stream.h"

namespace glmasr::server {

class SocketStream : public ByteStream {
 public:
  // Does not own either descriptor. `stop_fd` becomes readable when the server stops; -1: none.
  SocketStream(int socket_fd, int stop_fd, int write_timeout_ms);

  ReadResult read_some(char* buffer, size_t capacity, int timeout_ms) override;
  void write_all(std::string_view bytes) override;

  // After an error response: stop sending, then read and discard what the client still sends
  // (bounded by time and bytes) so that closing does not reset the connection before the
  // client has read the response.
  void drain_before_close(int max_ms, size_t max_bytes);

 private:
  int socket_fd_;
  int stop_fd_;
  int write_timeout_ms_;
};

}  // namespace glmasr::server
