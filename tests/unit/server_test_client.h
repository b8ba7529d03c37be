// A blocking loopback HTTP client for the server's tests: raw bytes in, raw bytes out, so that
// tests can send exactly the malformed, slow or pipelined traffic they are about.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace glmasr::server::test_client {

// A connected socket (-1 when connect failed), closed on destruction.
class Connection {
 public:
  explicit Connection(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return fd_ >= 0; }
  bool send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  void half_close() { ::shutdown(fd_, SHUT_WR); }

  // Reads until the server closes or `timeout_ms` passes.
  std::string read_all(int timeout_ms = 5000) {
    std::string reply;
    while (read_some(reply, timeout_ms)) {
    }
    return reply;
  }

  // Reads one response: the head, then a Content-Length or chunked body. Empty on timeout or
  // close before a whole head arrived.
  std::string read_response(int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    auto left = [&] {
      return static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  deadline - std::chrono::steady_clock::now())
                                  .count());
    };
    size_t head_end;
    while ((head_end = pending_.find("\r\n\r\n")) == std::string::npos)
      if (left() <= 0 || !read_some(pending_, left())) return "";
    head_end += 4;
    const std::string head = pending_.substr(0, head_end);
    size_t total = head_end;
    if (head.find("Transfer-Encoding: chunked") != std::string::npos) {
      // The last chunk (no trailers); the head's own CRLF precedes it when the body is empty.
      size_t last;
      while ((last = pending_.find("\r\n0\r\n\r\n", head_end - 2)) == std::string::npos)
        if (left() <= 0 || !read_some(pending_, left())) return "";
      total = last + 7;
    } else if (const size_t at = head.find("Content-Length: "); at != std::string::npos) {
      total += std::strtoul(head.c_str() + at + 16, nullptr, 10);
      while (pending_.size() < total)
        if (left() <= 0 || !read_some(pending_, left())) return "";
    }
    std::string response = pending_.substr(0, total);
    pending_.erase(0, total);
    return response;
  }

 private:
  bool read_some(std::string& into, int timeout_ms) {
    pollfd poll_fd = {fd_, POLLIN, 0};
    if (fd_ < 0 || ::poll(&poll_fd, 1, timeout_ms) <= 0) return false;
    char buffer[8192];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) return false;
    into.append(buffer, static_cast<size_t>(got));
    return true;
  }

  int fd_;
  std::string pending_;  // bytes after the last response read
};

// Sends `bytes` on a new connection, then reads until the server closes or `timeout_ms` passes.
inline std::string exchange(int port, const std::string& bytes, int timeout_ms = 5000) {
  Connection connection(port);
  if (!connection.connected()) return "connect failed";
  connection.send(bytes);
  return connection.read_all(timeout_ms);
}

inline std::string status_of(const std::string& response) {
  return response.substr(0, 12);  // "HTTP/1.1 200"
}

}  // namespace glmasr::server::test_client
