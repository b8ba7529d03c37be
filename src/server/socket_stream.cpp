#include "server/socket_stream.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/error.h"

namespace glmasr::server {

SocketStream::SocketStream(int socket_fd, int stop_fd, int write_timeout_ms)
    : socket_fd_(socket_fd), stop_fd_(stop_fd), write_timeout_ms_(write_timeout_ms) {}

ByteStream::ReadResult SocketStream::read_some(char* buffer, size_t capacity, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return {ReadStatus::kTimeout, 0};
    pollfd fds[2] = {{socket_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    const int ready = ::poll(fds, stop_fd_ >= 0 ? 2 : 1, static_cast<int>(left.count()));
    if (ready < 0) {
      if (errno == EINTR) continue;
      return {ReadStatus::kEof, 0};
    }
    if (ready == 0) return {ReadStatus::kTimeout, 0};
    if (stop_fd_ >= 0 && (fds[1].revents & POLLIN)) return {ReadStatus::kTimeout, 0};
    const ssize_t got = ::recv(socket_fd_, buffer, capacity, 0);
    if (got > 0) return {ReadStatus::kData, static_cast<size_t>(got)};
    if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    return {ReadStatus::kEof, 0};  // orderly close, or a reset: either way no more bytes
  }
}

void SocketStream::write_all(std::string_view bytes) {
  while (!bytes.empty()) {
    pollfd fd = {socket_fd_, POLLOUT, 0};
    const int ready = ::poll(&fd, 1, write_timeout_ms_);
    if (ready < 0 && errno == EINTR) continue;
    GLMASR_CHECK(ready > 0, "writing the response: the client did not read for ",
                 write_timeout_ms_ / 1000.0, " s");
    // MSG_NOSIGNAL: a vanished client is an error here, not a SIGPIPE for the whole server.
    const ssize_t sent = ::send(socket_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
    GLMASR_CHECK(sent > 0, "writing the response failed: ", std::strerror(errno));
    bytes.remove_prefix(static_cast<size_t>(sent));
  }
}

void SocketStream::drain_before_close(int max_ms, size_t max_bytes) {
  ::shutdown(socket_fd_, SHUT_WR);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(max_ms);
  char buffer[16384];
  size_t drained = 0;
  while (drained < max_bytes) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    const ReadResult got = read_some(buffer, sizeof buffer, static_cast<int>(left.count()));
    if (got.status != ReadStatus::kData) break;
    drained += got.bytes;
  }
}

}  // namespace glmasr::server
