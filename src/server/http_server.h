// A small HTTP/1.1 server on POSIX sockets: one accepting thread and a fixed pool of connection
// threads, each reading requests (RequestReader), calling the handler and writing the response.
// Keep-alive is supported; idle and slow clients time out; stop is async-signal-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "server/http_message.h"
#include "server/request_reader.h"

namespace glmasr::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;  // 0: any free port (see HttpServer::port())
  int connection_threads = 8;
  size_t max_waiting_connections = 64;  // accepted but not yet served; more get 503
  int write_timeout_ms = 30000;
  RequestLimits limits;
  bool log_requests = false;  // one line per request on stderr
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpServer {
 public:
  // Binds and listens. Throws glmasr::Error naming host:port when that fails.
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }  // the bound port (useful with port 0)

  // Serves until request_stop(); then finishes the requests in progress and returns.
  void run();
  // Safe from a signal handler and from any thread.
  void request_stop() noexcept;

 private:
  void accept_loop();
  void connection_loop();
  void serve_connection(int fd);
  bool stop_requested() const;

  HttpServerOptions options_;
  HttpHandler handler_;
  int listen_fd_ = -1;
  int stop_pipe_[2] = {-1, -1};  // written once by request_stop(); never drained
  int port_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<int> waiting_;  // accepted connections not yet taken by a thread
  bool stopping_ = false;
};

}  // namespace glmasr::server
