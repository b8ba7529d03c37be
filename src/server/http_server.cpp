#include "server/http_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <thread>
#include <vector>

#include "core/error.h"
#include "server/socket_stream.h"

namespace glmasr::server {

namespace {

// After an error response, how long and how much of the unread upload is discarded.
constexpr int kDrainMs = 2000;
constexpr size_t kDrainBytes = 64u << 20;

int bind_and_listen(const std::string& host, int port, int& bound_port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  const int lookup =
      ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  GLMASR_CHECK(lookup == 0, "cannot listen on ", host, ":", port, ": ", ::gai_strerror(lookup));
  std::string last_error = "no address";
  int fd = -1;
  for (addrinfo* address = found; address; address = address->ai_next) {
    fd = ::socket(address->ai_family, address->ai_socktype | SOCK_CLOEXEC, address->ai_protocol);
    if (fd < 0) continue;
    const int on = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (::bind(fd, address->ai_addr, address->ai_addrlen) == 0 && ::listen(fd, 128) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  GLMASR_CHECK(fd >= 0, "cannot listen on ", host, ":", port, ": ", last_error);
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &length);
  bound_port = bound.ss_family == AF_INET6
                   ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                   : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
  return fd;
}

void log_line(const HttpRequest* request, int status, double seconds) {
  std::fprintf(stderr, "glmasr serve: %s %s -> %d (%.3f s)\n",
               request ? request->method.c_str() : "-", request ? request->path.c_str() : "-",
               status, seconds);
}

}  // namespace

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)) {
  GLMASR_CHECK(options_.connection_threads > 0, "connection threads: expected at least 1, got ",
               options_.connection_threads);
  GLMASR_CHECK(::pipe2(stop_pipe_, O_CLOEXEC | O_NONBLOCK) == 0,
               "cannot create a pipe: ", std::strerror(errno));
  try {
    listen_fd_ = bind_and_listen(options_.host, options_.port, port_);
  } catch (...) {
    ::close(stop_pipe_[0]);
    ::close(stop_pipe_[1]);
    throw;
  }
}

HttpServer::~HttpServer() {
  if (listen_fd_ >= 0) ::close(listen_fd_);
  ::close(stop_pipe_[0]);
  ::close(stop_pipe_[1]);
}

void HttpServer::request_stop() noexcept {
  // write() is async-signal-safe; the byte stays in the pipe so every poll() sees it.
  const char byte = 1;
  [[maybe_unused]] const ssize_t ignored = ::write(stop_pipe_[1], &byte, 1);
}

bool HttpServer::stop_requested() const {
  pollfd fd = {stop_pipe_[0], POLLIN, 0};
  return ::poll(&fd, 1, 0) > 0;
}

void HttpServer::run() {
  std::vector<std::thread> threads;
  for (int i = 0; i < options_.connection_threads; ++i)
    threads.emplace_back([this] { connection_loop(); });
  accept_loop();
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (std::thread& thread : threads) thread.join();
  // Connections that were accepted but never served.
  for (int fd : waiting_) ::close(fd);
  waiting_.clear();
  ::close(listen_fd_);
  listen_fd_ = -1;
}

void HttpServer::accept_loop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_pipe_[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if (!(fds[0].revents & POLLIN)) continue;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;  // the client left already, or out of descriptors for a moment
    const int on = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
    std::unique_lock lock(mutex_);
    if (waiting_.size() >= options_.max_waiting_connections) {
      lock.unlock();
      // Answered here so the client learns why instead of waiting for a free thread.
      SocketStream stream(fd, -1, 1000);
      try {
        stream.write_all(serialize_response(
            error_response(503, "the server is busy: too many connections waiting"), false));
      } catch (const Error&) {
      }
      ::close(fd);
      continue;
    }
    waiting_.push_back(fd);
    lock.unlock();
    wake_.notify_one();
  }
}

void HttpServer::connection_loop() {
  for (;;) {
    int fd;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
      if (stopping_) return;
      fd = waiting_.front();
      waiting_.pop_front();
    }
    serve_connection(fd);
    ::close(fd);
  }
}

void HttpServer::serve_connection(int fd) {
  SocketStream stream(fd, stop_pipe_[0], options_.write_timeout_ms);
  RequestReader reader(stream, options_.limits);
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    const auto elapsed = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    std::optional<HttpRequest> request;
    try {
      request = reader.read_next();
    } catch (const HttpError& e) {
      // The request could not be read whole: answer, then close (its framing is lost).
      if (options_.log_requests) log_line(nullptr, e.status(), elapsed());
      try {
        stream.write_all(serialize_response(error_response(e.status(), e.what()), false));
        stream.drain_before_close(kDrainMs, kDrainBytes);
      } catch (const Error&) {
      }
      return;
    } catch (const std::exception&) {
      return;  // the client went away mid-request (a failed 100-continue write)
    }
    if (!request) return;
    HttpResponse response;
    try {
      response = handler_(*request);
    } catch (const std::exception& e) {
      response = error_response(500, e.what());
    }
    const bool keep_alive = request->wants_keep_alive() && !response.close && !stop_requested();
    if (options_.log_requests) log_line(&*request, response.status, elapsed());
    try {
      stream.write_all(serialize_response(response, keep_alive));
    } catch (const Error&) {
      return;
    }
    if (!keep_alive) return;
  }
}

}  // namespace glmasr::server
