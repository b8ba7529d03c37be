#include "server/http_server.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "server/request_parsing.h"
#include "server/upgrade_request.h"

namespace glmasr::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

class Connection;

std::string millis_text(int ms) {
  return ms % 1000 == 0 ? cat(ms / 1000, " s") : cat(ms, " ms");
}

// One piece of output: a whole response (head + body), a body chunk, or the last chunk.
struct Outgoing {
  enum class Kind { kWhole, kChunk, kLastChunk };
  Kind kind = Kind::kWhole;
  std::string head;
  std::string body;
};

std::string serialize_head(unsigned version, int status, const std::string& content_type,
                           const std::vector<std::pair<std::string, std::string>>& headers,
                           bool keep_alive, std::optional<size_t> content_length) {
  http::response_header<> head;
  head.version(version);
  head.result(static_cast<unsigned>(status));
  head.set(http::field::server, "glmasr");
  head.set(http::field::content_type, content_type);
  for (const auto& [name, value] : headers) head.insert(name, value);
  if (content_length)
    head.set(http::field::content_length, std::to_string(*content_length));
  else if (version == 11)  // HTTP/1.0 has no chunked coding: the body ends at close
    head.set(http::field::transfer_encoding, "chunked");
  // Beast writes "Connection: close" / "keep-alive" as the version needs.
  http::response<http::empty_body> message(std::move(head));
  message.keep_alive(keep_alive);
  std::ostringstream text;
  text << message.base();
  return text.str();
}

}  // namespace

struct HttpServer::State : std::enable_shared_from_this<HttpServer::State> {
  explicit State(HttpServerOptions opts, HttpHandler h)
      : options(std::move(opts)),
        handler(std::move(h)),
        acceptor(net::make_strand(ioc)),
        accept_backoff(acceptor.get_executor()),
        work(ioc.get_executor()) {}

  void start_accepting();
  void accept();
  void on_accept(const error_code& error, tcp::socket socket);
  void refuse(tcp::socket socket);
  void stop();  // on the acceptor's strand
  void add(const std::shared_ptr<Connection>& connection);
  void remove(Connection* connection);

  HttpServerOptions options;
  HttpHandler handler;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer accept_backoff;
  std::optional<net::signal_set> signals;
  int threads = 1;
  int port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<bool> running{false};  // inside run()

  mutable std::mutex mutex;  // guards connections and work
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections;
  // Keeps run() going while requests wait for an answer from another thread; released when
  // stopping and the last connection is gone.
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
};

namespace {

using State = HttpServer::State;

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<State> server, tcp::socket socket)
      : server_(std::move(server)),
        socket_(std::move(socket)),
        buffer_(server_->options.max_head_bytes + 4096),
        deadline_(socket_.get_executor()),
        request_deadline_(socket_.get_executor()) {}
  ~Connection() { server_->remove(this); }

  void start() {
    net::dispatch(socket_.get_executor(),
                  [self = shared_from_this()] { self->wait_for_request(); });
  }
  // Stopping: an idle connection closes now; one with a request in progress finishes it.
  void drain() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      if (self->phase_ == Phase::kIdle) self->socket_.cancel();
    });
  }

  // Called by the responder; `request` says which request of this connection it answers.
  void answer(uint64_t request, HttpResponse response);
  void start_stream(uint64_t request, StreamHead head);
  void write_chunk(uint64_t request, std::string data);
  void end_stream(uint64_t request);

 private:
  enum class Phase { kIdle, kHead, kBody, kHandling, kClosed };

  void wait_for_request();
  void read_head();
  void on_head(const error_code& error);
  void read_body();
  void on_body(const error_code& error);
  // Reads the head or the body a part at a time until `done`, then calls `then`: a deadline that
  // passes between two parts has no read to cancel, so it is checked before each.
  template <typename Done, typename Then>
  void read_parts(Done done, Then then);
  void refuse_request(const error_code& error);
  void dispatch();
  void hand_over();
  void start_watch();
  void on_watch(const error_code& error, size_t bytes);
  void answer_now(HttpResponse response);
  void enqueue(Outgoing item);
  void write_next();
  void after_response();
  void close();
  void arm(int ms);
  void disarm();
  void log(int status);

  std::shared_ptr<State> server_;
  tcp::socket socket_;
  beast::flat_buffer buffer_;  // bounded: a head, a chunk line or trailers must fit
  std::optional<http::request_parser<http::string_body>> parser_;
  std::function<void(std::uint64_t, beast::string_view, error_code&)> on_chunk_header_;
  net::steady_timer deadline_;          // the phase's deadline (idle, head, body, write)
  net::steady_timer request_deadline_;  // request_timeout_ms while the route works
  uint64_t deadline_generation_ = 0;
  bool deadline_passed_ = false;
  bool chunk_extension_too_long_ = false;
  Phase phase_ = Phase::kIdle;

  // The request being answered.
  uint64_t request_id_ = 0;
  unsigned version_ = 11;
  std::string method_, target_;
  Clock::time_point started_;
  std::shared_ptr<Cancellation> cancellation_;
  bool keep_alive_ = true;
  bool answered_ = false;
  bool stream_open_ = false;
  bool response_complete_ = false;  // the last output is queued
  bool watching_ = false;           // a read on the socket notices a disconnect
  bool next_after_watch_ = false;  // the response is out: read the next request once the watch ends
  bool writing_ = false;
  std::deque<Outgoing> outbox_;
};

class ConnectionResponder : public Responder {
 public:
  ConnectionResponder(std::shared_ptr<Connection> connection, uint64_t request,
                      std::shared_ptr<Cancellation> cancellation)
      : connection_(std::move(connection)),
        request_(request),
        cancellation_(std::move(cancellation)) {}
  // A route that drops its responder without answering still gets the client an answer.
  ~ConnectionResponder() override {
    if (!used_.exchange(true))
      connection_->answer(request_, error_response(500, "the request was dropped unanswered"));
  }

  void respond(HttpResponse response) override {
    used_ = true;
    connection_->answer(request_, std::move(response));
  }
  void start_stream(StreamHead head) override {
    used_ = true;
    connection_->start_stream(request_, std::move(head));
  }
  void write_chunk(std::string data) override {
    connection_->write_chunk(request_, std::move(data));
  }
  void end_stream() override { connection_->end_stream(request_); }
  std::shared_ptr<std::atomic<bool>> cancelled_flag() const override {
    return cancellation_->flag();
  }
  void on_cancel(std::function<void()> callback) override {
    cancellation_->on_cancel(std::move(callback));
  }

 private:
  std::shared_ptr<Connection> connection_;
  uint64_t request_;
  std::shared_ptr<Cancellation> cancellation_;
  std::atomic<bool> used_{false};
};

void Connection::arm(int ms) {
  deadline_passed_ = false;
  const uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(std::chrono::milliseconds(ms));
  deadline_.async_wait([self = shared_from_this(), generation](const error_code& error) {
    if (error || generation != self->deadline_generation_ || self->phase_ == Phase::kClosed) return;
    self->deadline_passed_ = true;
    error_code ignored;
    self->socket_.cancel(ignored);  // the pending read or write ends with operation_aborted
  });
}

void Connection::disarm() {
  ++deadline_generation_;
  deadline_.cancel();
}

void Connection::wait_for_request() {
  phase_ = Phase::kIdle;
  if (server_->stopping) return close();
  if (buffer_.size() > 0) return read_head();  // a pipelined request is already here
  arm(server_->options.idle_timeout_ms);
  socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& error) {
    self->disarm();
    if (error || self->server_->stopping) return self->close();
    self->read_head();
  });
}

void Connection::read_head() {
  phase_ = Phase::kHead;
  const HttpServerOptions& options = server_->options;
  parser_.emplace();
  limit_request_parser(*parser_, request_limits_of(options), on_chunk_header_,
                       chunk_extension_too_long_);
  arm(options.head_timeout_ms);
  read_parts([](const auto& parser) { return parser.is_header_done(); },
             [](Connection& self, const error_code& error) { self.on_head(error); });
}

template <typename Done, typename Then>
void Connection::read_parts(Done done, Then then) {
  // The timer's cancel reaches only a read in flight: http::async_read(_header) between two
  // socket reads would go on reading a slow client's bytes past the deadline (seen under load
  // in CI: a 900-byte body sent over 1.8 s answered 200 despite a 400 ms body deadline).
  if (deadline_passed_) return then(*this, error_code(net::error::operation_aborted));
  if (done(*parser_)) return then(*this, error_code());
  http::async_read_some(socket_, buffer_, *parser_,
                        [self = shared_from_this(), done, then](const error_code& error, size_t) {
                          if (error) return then(*self, error);
                          self->read_parts(done, then);
                        });
}

void Connection::on_head(const error_code& error) {
  disarm();
  if (error) return refuse_request(error);
  const auto& request = parser_->get();
  started_ = Clock::now();
  version_ = request.version() == 10 ? 10 : 11;
  method_ = std::string(request.method_string());
  target_ = std::string(request.target());
  keep_alive_ = request.keep_alive();
  // A WebSocket upgrade (GET /v1/realtime) leaves HTTP: the socket and the parsed head go to
  // the upgrade handler, which answers the handshake itself.
  if (beast::iequals(request[http::field::upgrade], "websocket")) {
    keep_alive_ = false;
    if (!server_->options.on_upgrade)
      return answer_now(error_response(
          501, cat("WebSocket upgrade on ", target_, " is not supported: expected plain HTTP")));
    if (server_->stopping) return answer_now(error_response(503, "the server is shutting down"));
    if (!parser_->is_done())
      return answer_now(error_response(400, "a WebSocket upgrade request has no body"));
    return hand_over();
  }
  if (parser_->is_done()) return dispatch();
  if (request.version() == 11 && beast::iequals(request[http::field::expect], "100-continue")) {
    // The client waits for this before sending the body.
    static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    phase_ = Phase::kBody;
    arm(server_->options.write_timeout_ms);
    net::async_write(socket_, net::buffer(kContinue),
                     [self = shared_from_this()](const error_code& error, size_t) {
                       self->disarm();
                       if (error) return self->close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void Connection::read_body() {
  phase_ = Phase::kBody;
  arm(server_->options.body_timeout_ms);
  read_parts([](const auto& parser) { return parser.is_done(); },
             [](Connection& self, const error_code& error) { self.on_body(error); });
}

void Connection::on_body(const error_code& error) {
  disarm();
  if (error) return refuse_request(error);
  dispatch();
}

// A request that could not be read: answer what went wrong (the framing is lost, so the
// connection closes after), or close quietly when the client went away.
void Connection::refuse_request(const error_code& error) {
  const HttpServerOptions& options = server_->options;
  const bool reading_body = phase_ == Phase::kBody;
  if (started_ == Clock::time_point{}) started_ = Clock::now();
  keep_alive_ = false;
  if (deadline_passed_)
    return answer_now(error_response(
        408, cat("the request ", reading_body ? "body" : "head", " did not arrive within ",
                 millis_text(reading_body ? options.body_timeout_ms : options.head_timeout_ms))));
  if (auto refusal =
          refusal_for(error, reading_body, chunk_extension_too_long_, request_limits_of(options)))
    return answer_now(std::move(*refusal));
  close();
}

void Connection::dispatch() {
  phase_ = Phase::kHandling;
  http::request<http::string_body> message = parser_->release();
  parser_.reset();
  HttpRequest request = to_http_request(std::move(message));
  method_ = request.method;
  target_ = request.target;

  ++request_id_;
  answered_ = stream_open_ = response_complete_ = false;
  cancellation_ = std::make_shared<Cancellation>();
  auto responder =
      std::make_shared<ConnectionResponder>(shared_from_this(), request_id_, cancellation_);
  start_watch();
  if (const int limit = server_->options.request_timeout_ms; limit > 0) {
    request_deadline_.expires_after(std::chrono::milliseconds(limit));
    request_deadline_.async_wait(
        [self = shared_from_this(), id = request_id_, limit](const error_code& error) {
          if (error || id != self->request_id_ || self->answered_) return;
          self->cancellation_->cancel();
          self->answer_now(
              error_response(504, cat("the request was not answered within ", millis_text(limit))));
        });
  }
  try {
    server_->handler(std::move(request), responder);
  } catch (const std::exception& e) {
    responder->respond(error_response(500, e.what()));
  }
}

void Connection::hand_over() {
  auto upgrade = std::make_unique<UpgradeRequest>(UpgradeRequest{.io_owner = server_,
                                                                 .socket = std::move(socket_),
                                                                 .message = parser_->release(),
                                                                 .request = {}});
  parser_.reset();
  upgrade->request = make_request(method_, target_);
  for (const auto& field : upgrade->message)
    upgrade->request.headers.emplace_back(std::string(field.name_string()),
                                          std::string(field.value()));
  // Bytes the client sent after the head (it should wait for the 101) are not carried over.
  log(101);
  phase_ = Phase::kClosed;
  disarm();
  request_deadline_.cancel();
  server_->remove(this);
  server_->options.on_upgrade(std::move(upgrade));
}

// While the route works, a read on the socket notices the client going away. Bytes that do
// arrive (a pipelined request) stay in the buffer for the next parse.
void Connection::start_watch() {
  const size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0 || phase_ == Phase::kClosed) return;
  watching_ = true;
  socket_.async_read_some(buffer_.prepare(std::min<size_t>(room, 4096)),
                          [self = shared_from_this()](const error_code& error, size_t bytes) {
                            self->on_watch(error, bytes);
                          });
}

void Connection::on_watch(const error_code& error, size_t bytes) {
  watching_ = false;
  if (phase_ == Phase::kClosed) return;
  if (!error) buffer_.commit(bytes);
  if (next_after_watch_) {
    next_after_watch_ = false;
    return wait_for_request();
  }
  if (!error) return start_watch();
  if (error == net::error::operation_aborted) return;  // a write deadline; close() follows
  // The client closed or reset the connection: close() cancels the work for it.
  close();
}

void Connection::answer(uint64_t request, HttpResponse response) {
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), request,
                                         response = std::move(response)]() mutable {
    if (request != self->request_id_ || self->phase_ != Phase::kHandling || self->answered_) return;
    self->answer_now(std::move(response));
  });
}

void Connection::answer_now(HttpResponse response) {
  answered_ = true;
  request_deadline_.cancel();
  keep_alive_ = keep_alive_ && !response.close && !server_->stopping;
  log(response.status);
  Outgoing item{.kind = Outgoing::Kind::kWhole,
                .head = serialize_head(version_, response.status, response.content_type,
                                       response.headers, keep_alive_, response.body.size()),
                .body = std::move(response.body)};
  if (phase_ != Phase::kHandling) phase_ = Phase::kHandling;
  response_complete_ = true;
  enqueue(std::move(item));
}

void Connection::start_stream(uint64_t request, StreamHead head) {
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), request,
                                         head = std::move(head)]() mutable {
    if (request != self->request_id_ || self->phase_ != Phase::kHandling || self->answered_) return;
    self->answered_ = true;
    self->stream_open_ = true;
    self->request_deadline_.cancel();
    self->keep_alive_ = self->keep_alive_ && !self->server_->stopping;
    self->log(head.status);
    // HTTP/1.0 has no chunked coding: the body then ends when the connection closes.
    if (self->version_ == 10) self->keep_alive_ = false;
    self->enqueue({.kind = Outgoing::Kind::kWhole,
                   .head = serialize_head(self->version_, head.status, head.content_type,
                                          head.headers, self->keep_alive_, std::nullopt),
                   .body = {}});
  });
}

void Connection::write_chunk(uint64_t request, std::string data) {
  if (data.empty()) return;
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), request,
                                         data = std::move(data)]() mutable {
    if (request != self->request_id_ || !self->stream_open_ || self->phase_ == Phase::kClosed)
      return;
    self->enqueue({.kind = Outgoing::Kind::kChunk, .head = {}, .body = std::move(data)});
  });
}

void Connection::end_stream(uint64_t request) {
  net::dispatch(socket_.get_executor(), [self = shared_from_this(), request] {
    if (request != self->request_id_ || !self->stream_open_ || self->phase_ == Phase::kClosed)
      return;
    self->stream_open_ = false;
    self->response_complete_ = true;
    self->enqueue({.kind = Outgoing::Kind::kLastChunk, .head = {}, .body = {}});
  });
}

void Connection::enqueue(Outgoing item) {
  if (phase_ == Phase::kClosed) return;
  outbox_.push_back(std::move(item));
  if (!writing_) write_next();
}

void Connection::write_next() {
  if (phase_ == Phase::kClosed) return;
  if (outbox_.empty()) {
    writing_ = false;
    if (response_complete_) after_response();
    return;
  }
  writing_ = true;
  arm(server_->options.write_timeout_ms);
  auto on_written = [self = shared_from_this()](const error_code& error, size_t) {
    self->disarm();
    if (self->phase_ == Phase::kClosed) return;
    if (error) {
      if (self->cancellation_) self->cancellation_->cancel();
      return self->close();
    }
    self->outbox_.pop_front();
    self->write_next();
  };
  // HTTP/1.0 streams are not chunk-framed (see start_stream).
  Outgoing& item = outbox_.front();
  if (item.kind == Outgoing::Kind::kWhole) {
    const std::array<net::const_buffer, 2> buffers = {net::buffer(item.head),
                                                      net::buffer(item.body)};
    net::async_write(socket_, buffers, std::move(on_written));
  } else if (version_ == 10) {
    net::async_write(socket_, net::buffer(item.body), std::move(on_written));
  } else if (item.kind == Outgoing::Kind::kChunk) {
    net::async_write(socket_, http::make_chunk(net::buffer(item.body)), std::move(on_written));
  } else {
    net::async_write(socket_, http::make_chunk_last(), std::move(on_written));
  }
}

void Connection::after_response() {
  cancellation_.reset();
  if (!keep_alive_ || server_->stopping) {
    error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    return close();
  }
  if (watching_) {
    next_after_watch_ = true;
    error_code ignored;
    socket_.cancel(ignored);  // on_watch then reads the next request
    return;
  }
  wait_for_request();
}

void Connection::close() {
  if (phase_ == Phase::kClosed) return;
  phase_ = Phase::kClosed;
  if (cancellation_ && !response_complete_) cancellation_->cancel();
  deadline_.cancel();
  request_deadline_.cancel();
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  // outbox_ stays: a write may still be completing from its buffers.
  server_->remove(this);
}

void Connection::log(int status) {
  if (!server_->options.log_requests) return;
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
  std::fprintf(stderr, "glmasr serve: %s %s -> %d (%.1f ms)\n", method_.c_str(), target_.c_str(),
               status, ms);
}

}  // namespace

void HttpServer::State::start_accepting() {
  if (options.stop_on_signals) {
    signals.emplace(ioc, SIGINT, SIGTERM);
    signals->async_wait([self = shared_from_this()](const error_code& error, int) {
      if (!error) net::post(self->acceptor.get_executor(), [self] { self->stop(); });
    });
  }
  net::post(acceptor.get_executor(), [self = shared_from_this()] { self->accept(); });
}

void HttpServer::State::accept() {
  if (stopping) return;
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](const error_code& error, tcp::socket socket) {
                          self->on_accept(error, std::move(socket));
                        });
}

void HttpServer::State::on_accept(const error_code& error, tcp::socket socket) {
  if (stopping) return;
  if (error) {
    // Out of descriptors (EMFILE/ENFILE) or memory: retrying at once would spin; wait, so that
    // closing connections can free what accept needs.
    std::fprintf(stderr, "glmasr serve: accept failed (%s); retrying in %d ms\n",
                 error.message().c_str(), options.accept_backoff_ms);
    accept_backoff.expires_after(std::chrono::milliseconds(options.accept_backoff_ms));
    accept_backoff.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error) self->accept();
    });
    return;
  }
  error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  bool full = false;
  {
    std::lock_guard lock(mutex);
    full = connections.size() >= options.max_connections;
  }
  if (full) {
    refuse(std::move(socket));
  } else {
    auto connection = std::make_shared<Connection>(shared_from_this(), std::move(socket));
    add(connection);
    connection->start();
  }
  accept();
}

// Over the connection budget: a short 503 and close, without reading the request.
void HttpServer::State::refuse(tcp::socket socket) {
  HttpResponse response = error_response(
      503, cat("the server has ", options.max_connections, " connections open: retry later"));
  response.headers.emplace_back("Retry-After", std::to_string(options.retry_after_seconds));
  auto text =
      std::make_shared<std::string>(serialize_head(11, 503, response.content_type, response.headers,
                                                   false, response.body.size()) +
                                    response.body);
  auto shared_socket = std::make_shared<tcp::socket>(std::move(socket));
  net::async_write(*shared_socket, net::buffer(*text),
                   [shared_socket, text](const error_code&, size_t) {
                     error_code ignored;
                     shared_socket->shutdown(tcp::socket::shutdown_both, ignored);
                     shared_socket->close(ignored);
                   });
}

void HttpServer::State::stop() {
  if (stopping.exchange(true)) return;
  // New clients are refused by the kernel from now on instead of waiting in the backlog.
  error_code ignored;
  acceptor.close(ignored);
  accept_backoff.cancel();
  if (signals) signals->cancel(ignored);
  if (options.on_stop) options.on_stop();
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(mutex);
    for (auto& [raw, weak] : connections)
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
    if (connections.empty()) work.reset();
  }
  for (auto& connection : open) connection->drain();
}

void HttpServer::State::add(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(mutex);
  connections.emplace(connection.get(), connection);
}

void HttpServer::State::remove(Connection* connection) {
  std::lock_guard lock(mutex);
  connections.erase(connection);
  if (stopping && connections.empty()) work.reset();
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler)
    : state_(std::make_shared<State>(std::move(options), std::move(handler))) {
  State& state = *state_;
  const unsigned hardware = std::max(1u, std::thread::hardware_concurrency());
  state.threads = state.options.io_threads > 0 ? state.options.io_threads
                                               : static_cast<int>(std::min(4u, hardware));
  const std::string where = cat(state.options.host, ":", state.options.port);
  try {
    const auto address = net::ip::make_address(state.options.host);
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(state.options.port));
    state.acceptor.open(endpoint.protocol());
    state.acceptor.set_option(tcp::acceptor::reuse_address(true));
    state.acceptor.bind(endpoint);
    state.acceptor.listen(net::socket_base::max_listen_connections);
    state.port = state.acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    throw Error(cat("cannot listen on ", where, ": ", e.what()));
  }
}

HttpServer::~HttpServer() {
  // Not serving (run() returned or never ran): stop here, since a handler posted to an
  // io_context that no thread runs would never run.
  if (!state_->running) state_->stop();
  // Answers that came after run() returned (work finishing for connections already closed)
  // wait in the io_context, each holding its connection, which holds the State: a cycle that
  // would never be freed. They are no-ops on closed connections; run them out here.
  state_->ioc.restart();
  state_->ioc.poll();
}

int HttpServer::port() const {
  return state_->port;
}

int HttpServer::io_threads() const {
  return state_->threads;
}

size_t HttpServer::open_connections() const {
  std::lock_guard lock(state_->mutex);
  return state_->connections.size();
}

void HttpServer::run() {
  state_->running = true;
  state_->start_accepting();
  std::vector<std::thread> threads;
  for (int i = 1; i < state_->threads; ++i) threads.emplace_back([this] { state_->ioc.run(); });
  state_->ioc.run();
  for (auto& thread : threads) thread.join();
  state_->running = false;
}

void HttpServer::request_stop() {
  // Weak: after run() returned nothing runs this, and a strong reference queued in the State's
  // own io_context would keep the State alive for ever.
  net::post(state_->acceptor.get_executor(), [weak = std::weak_ptr<State>(state_)] {
    if (auto state = weak.lock()) state->stop();
  });
}

}  // namespace glmasr::server
