// The HTTP/1.1 server of glmasr serve, on Boost.Beast over Boost.Asio: asynchronous accept and
// connections on a small pool of I/O threads, so idle and slow clients hold no thread. Each
// connection has one deadline for the whole request head and one for the whole body (not per
// read), limits on head size (431), body size (413), chunk extensions and trailers, keep-alive
// with an idle timeout, and a connection budget (over it: 503 + Retry-After, then close).
// Routes answer through a Responder (responder.h), possibly later and from another thread.
// Stopping closes the listening socket at once, lets requests in progress finish, then returns.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "server/http_message.h"
#include "server/responder.h"

namespace glmasr::server {

struct UpgradeRequest;  // upgrade_request.h
// Takes over a connection that asked for a WebSocket upgrade (the socket moves with it).
using UpgradeHandler = std::function<void(std::unique_ptr<UpgradeRequest> upgrade)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                // 0: any free port (see HttpServer::port())
  int io_threads = 0;             // 0: min(4, hardware threads)
  size_t max_connections = 4096;  // open at once; more are answered 503 + Retry-After
  int retry_after_seconds = 1;
  int idle_timeout_ms = 30000;    // a keep-alive connection waiting for its next request
  int head_timeout_ms = 10000;    // from the first byte of a request to the end of its head
  int body_timeout_ms = 120000;   // the whole body, however it is framed
  int write_timeout_ms = 30000;   // each response write
  int request_timeout_ms = 0;     // head read to answer; 0: none (else cancel + 504)
  size_t max_head_bytes = 16384;  // request line + headers; also bounds a chunk line/trailers
  size_t max_body_bytes = 200u << 20;
  size_t max_chunk_extension_bytes = 256;
  int accept_backoff_ms = 100;    // after an accept failure such as EMFILE
  bool stop_on_signals = false;   // SIGINT/SIGTERM call request_stop()
  bool log_requests = false;      // one line per request on stderr
  std::function<void()> on_stop;  // runs once when stopping starts (marks the service draining)
  UpgradeHandler on_upgrade;      // WebSocket upgrades; unset: answered 501
};

// Handles one request. Runs on an I/O thread: it must not block (hand slow work elsewhere and
// answer through the responder later).
using HttpHandler = std::function<void(HttpRequest request, ResponderPtr responder)>;

class HttpServer {
 public:
  // Binds and listens. Throws glmasr::Error naming host:port when that fails.
  HttpServer(HttpServerOptions options, HttpHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const;  // the bound port (useful with port 0)
  int io_threads() const;

  // Serves on the I/O threads (the caller is one of them) until request_stop(); then waits for
  // the requests in progress to be answered and returns.
  void run();
  // Thread-safe; idempotent. (From a signal handler use stop_on_signals instead.)
  void request_stop();

  size_t open_connections() const;

  struct State;  // the I/O context, acceptor and connections (http_server.cpp)

 private:
  std::shared_ptr<State> state_;
};

}  // namespace glmasr::server
