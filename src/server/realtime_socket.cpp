#include "server/realtime_socket.h"

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <deque>
#include <vector>

namespace glmasr::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr const char* kRealtimePath = "/v1/realtime";
constexpr int kCloseGoingAway = 1001;

stream::TranscribeTurnFn turn_transcriber(TranscribeFn transcribe) {
  return [transcribe = std::move(transcribe)](stream::TurnRequest request,
                                              std::function<void(stream::TurnResult)> done) {
    TranscriptionJob job;
    job.audio = std::move(request.audio);
    job.prompt = std::move(request.prompt);
    job.cancelled = request.cancelled;
    job.background = request.background;
    job.on_text_delta = std::move(request.on_delta);
    auto prompt_tokens = std::make_shared<std::atomic<int64_t>>(0);
    job.events.prompt_tokens = [prompt_tokens](int64_t count) { *prompt_tokens += count; };
    transcribe(std::move(job),
               [prompt_tokens, done = std::move(done)](TranscriptionOutcome outcome) {
                 stream::TurnResult result;
                 if (outcome.result.transcript) {
                   const Transcript& transcript = *outcome.result.transcript;
                   result.transcript = transcript.text;
                   for (const TranscriptSegment& segment : transcript.segments)
                     result.output_tokens += static_cast<int64_t>(segment.tokens.size());
                   result.input_tokens = prompt_tokens->load();
                 } else if (outcome.failure) {
                   try {
                     std::rethrow_exception(outcome.failure);
                   } catch (const std::exception& e) {
                     result.error = e.what();
                   } catch (...) {
                     result.error = "unknown failure";
                   }
                 } else {
                   result.error = outcome.cancelled ? "cancelled" : outcome.result.error;
                 }
                 done(std::move(result));
               });
  };
}

namespace {

class WsConnection;

}  // namespace

struct RealtimeServer::Shared {
  RealtimeServerOptions options;
  stream::TranscribeTurnFn transcribe;
  mutable std::mutex mutex;
  std::unordered_map<WsConnection*, std::weak_ptr<WsConnection>> open;
  bool closing = false;
  Gauge* open_gauge = nullptr;  // sessions open, set under `mutex`
  Counter* slow_reader_closes = nullptr;

  void count_open() const {  // with `mutex` held
    if (open_gauge) open_gauge->set(static_cast<double>(open.size()));
  }
};

namespace {

class WsConnection : public std::enable_shared_from_this<WsConnection> {
 public:
  WsConnection(std::shared_ptr<RealtimeServer::Shared> shared, std::shared_ptr<void> io_owner,
               tcp::socket socket)
      : io_owner_(std::move(io_owner)),
        shared_(std::move(shared)),
        ws_(std::move(socket)),
        close_timer_(ws_.get_executor()) {}
  ~WsConnection() {
    std::lock_guard lock(shared_->mutex);
    shared_->open.erase(this);
    shared_->count_open();
  }

  void run(http::request<http::string_body> message) {
    const RealtimeServerOptions& options = shared_->options;
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = std::chrono::milliseconds(options.handshake_timeout_ms);
    timeout.idle_timeout = websocket::stream_base::none();
    timeout.keep_alive_pings = false;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& response) { response.set(http::field::server, "glmasr"); }));
    ws_.read_message_max(options.max_message_bytes);
    auto request = std::make_shared<http::request<http::string_body>>(std::move(message));
    ws_.async_accept(*request, [self = shared_from_this(), request](const error_code& error) {
      self->on_accept(error);
    });
  }

  // From any thread. Weak: queued in an io_context that no longer runs, a strong reference
  // would keep this (and through io_owner_ that context) alive for ever.
  void close_from_outside(int code, std::string reason) {
    net::post(ws_.get_executor(), [weak = weak_from_this(), code, reason = std::move(reason)] {
      if (auto self = weak.lock()) self->start_close(code, reason);
    });
  }

 private:
  // How the session's events reach this connection's strand, in the order produced, from any
  // thread. The session (and so this) may outlive the connection while a turn finishes, so it
  // holds the io_context's owner, declared first so that the executor is destroyed before it.
  struct StrandPoster {
    std::shared_ptr<void> io_owner;
    decltype(std::declval<websocket::stream<tcp::socket>&>().get_executor()) executor;
    std::weak_ptr<WsConnection> connection;

    template <typename Work>
    void post(Work work) const {
      net::post(executor, [connection = connection, work = std::move(work)]() mutable {
        if (auto self = connection.lock()) work(*self);
      });
    }
  };

  void on_accept(const error_code& error) {
    if (error) return;  // a failed handshake: nothing was started
    const StrandPoster poster{
        .io_owner = io_owner_, .executor = ws_.get_executor(), .connection = weak_from_this()};
    stream::RealtimeOutput output{
        .send =
            [poster](const nlohmann::json& event) {
              std::string text =
                  event.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
              poster.post([text = std::move(text)](WsConnection& self) mutable {
                self.enqueue(std::move(text));
              });
            },
        .close =
            [poster](int code, const std::string& reason) {
              poster.post([code, reason](WsConnection& self) { self.start_close(code, reason); });
            },
    };
    session_ = stream::RealtimeSession::create(shared_->options.model_id, shared_->options.limits,
                                               shared_->transcribe, std::move(output));
    session_->start();
    bool closing = false;
    {
      std::lock_guard lock(shared_->mutex);
      closing = shared_->closing;
    }
    if (closing) start_close(kCloseGoingAway, "the server is shutting down");
    read();
  }

  void read() {
    ws_.async_read(read_buffer_, [self = shared_from_this()](const error_code& error, size_t) {
      self->on_read(error);
    });
  }

  void on_read(const error_code& error) {
    if (error) return finish();  // closed, reset, or too big (Beast answers 1009 itself)
    if (ws_.got_text()) {
      const auto data = read_buffer_.cdata();
      session_->handle_event(std::string_view(static_cast<const char*>(data.data()), data.size()));
    } else {
      session_->handle_binary();
    }
    read_buffer_.consume(read_buffer_.size());
    read();
  }

  void enqueue(std::string text) {
    if (closing_ || finished_) return;
    if (queued_bytes_ + text.size() > shared_->options.max_send_queue_bytes) {
      if (shared_->slow_reader_closes) shared_->slow_reader_closes->add();
      return start_close(static_cast<int>(websocket::close_code::policy_error),
                         "send queue full: the client is not reading its events");
    }
    queued_bytes_ += text.size();
    outbox_.push_back(std::move(text));
    if (!writing_) write_next();
  }

  void write_next() {
    if (outbox_.empty() || finished_) {
      writing_ = false;
      if (closing_ && !close_sent_) send_close();
      return;
    }
    writing_ = true;
    ws_.text(true);
    ws_.async_write(net::buffer(outbox_.front()),
                    [self = shared_from_this()](const error_code& error, size_t) {
                      if (error) return self->finish();
                      self->queued_bytes_ -= self->outbox_.front().size();
                      self->outbox_.pop_front();
                      self->write_next();
                    });
  }

  // Nothing more is queued; what is being written finishes, then the close frame. A client that
  // does not read that either is dropped when close_timeout_ms passes.
  void start_close(int code, const std::string& reason) {
    if (closing_ || finished_) return;
    closing_ = true;
    close_code_ = code;
    close_reason_ = reason.substr(0, 120);  // a close frame's reason fits in 123 bytes
    if (session_) session_->close();
    while (outbox_.size() > (writing_ ? 1u : 0u)) {
      queued_bytes_ -= outbox_.back().size();
      outbox_.pop_back();
    }
    close_timer_.expires_after(std::chrono::milliseconds(shared_->options.close_timeout_ms));
    close_timer_.async_wait([self = shared_from_this()](const error_code& error) {
      if (error) return;
      error_code ignored;
      beast::get_lowest_layer(self->ws_).close(ignored);
    });
    if (!writing_) send_close();
  }

  void send_close() {
    close_sent_ = true;
    websocket::close_reason why;
    why.code = static_cast<std::uint16_t>(close_code_);
    why.reason = close_reason_;
    ws_.async_close(why, [self = shared_from_this()](const error_code&) {
      // The pending read ends now (closed); finish() runs from there.
      error_code ignored;
      self->close_timer_.cancel(ignored);
    });
  }

  void finish() {
    if (finished_) return;
    finished_ = true;
    if (session_) session_->close();  // a disconnect cancels the session's work
    close_timer_.cancel();
    error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
  }

  std::shared_ptr<void> io_owner_;  // first: outlives the socket and timer (upgrade_request.h)
  std::shared_ptr<RealtimeServer::Shared> shared_;
  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer read_buffer_;
  net::steady_timer close_timer_;
  std::shared_ptr<stream::RealtimeSession> session_;
  std::deque<std::string> outbox_;
  size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool closing_ = false;
  bool close_sent_ = false;
  bool finished_ = false;
  int close_code_ = 1000;
  std::string close_reason_;
};

// Answers a refused upgrade as plain HTTP and closes.
void refuse(std::unique_ptr<UpgradeRequest> upgrade, HttpResponse response) {
  auto socket = std::make_shared<tcp::socket>(std::move(upgrade->socket));
  auto message = std::make_shared<http::response<http::string_body>>();
  message->version(11);
  message->result(static_cast<unsigned>(response.status));
  message->set(http::field::server, "glmasr");
  message->set(http::field::content_type, response.content_type);
  for (const auto& [name, value] : response.headers) message->insert(name, value);
  message->body() = std::move(response.body);
  message->keep_alive(false);
  message->prepare_payload();
  http::async_write(*socket, *message, [socket, message](const error_code&, size_t) {
    error_code ignored;
    socket->shutdown(tcp::socket::shutdown_both, ignored);
    socket->close(ignored);
  });
}

}  // namespace

RealtimeServer::RealtimeServer(RealtimeServerOptions options, stream::TranscribeTurnFn transcribe)
    : shared_(std::make_shared<Shared>()) {
  shared_->options = std::move(options);
  shared_->transcribe = std::move(transcribe);
  if (MetricsRegistry* metrics = shared_->options.metrics) {
    shared_->open_gauge =
        &metrics->gauge("glmasr:realtime_sessions", "Realtime transcription sessions open.");
    shared_->slow_reader_closes = &metrics->counter(
        "glmasr:realtime_slow_reader_closes_total",
        "Realtime sessions closed with 1008 because the client stopped reading its events.");
  }
}

RealtimeServer::~RealtimeServer() {
  close_all();
}

void RealtimeServer::accept(std::unique_ptr<UpgradeRequest> upgrade) {
  const HttpRequest& request = upgrade->request;
  if (request.path != kRealtimePath)
    return refuse(std::move(upgrade),
                  error_response(404, cat("no WebSocket route ", request.path, ": expected GET ",
                                          kRealtimePath, "?intent=transcription")));
  if (request.method != "GET")
    return refuse(std::move(upgrade),
                  error_response(405, cat("method ", request.method, " on ", kRealtimePath,
                                          ": expected a GET upgrade")));
  std::map<std::string, std::string> query;
  try {
    query = parse_query(request.query);
  } catch (const HttpError& e) {
    return refuse(std::move(upgrade), error_response(400, e.what()));
  }
  if (auto it = query.find("intent"); it == query.end() || it->second != "transcription")
    return refuse(std::move(upgrade),
                  error_response(400,
                                 cat("intent '", it == query.end() ? "" : it->second,
                                     "': this server has transcription sessions only, expected ",
                                     kRealtimePath, "?intent=transcription"),
                                 "intent"));
  std::shared_ptr<WsConnection> connection;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->closing)
      return refuse(std::move(upgrade), error_response(503, "the server is shutting down"));
    if (shared_->open.size() >= shared_->options.max_sessions) {
      HttpResponse busy = error_response(503, cat("the server has ", shared_->options.max_sessions,
                                                  " realtime sessions open: retry later"));
      busy.headers.emplace_back("Retry-After", "1");
      return refuse(std::move(upgrade), std::move(busy));
    }
    connection =
        std::make_shared<WsConnection>(shared_, upgrade->io_owner, std::move(upgrade->socket));
    shared_->open.emplace(connection.get(), connection);
    shared_->count_open();
  }
  connection->run(std::move(upgrade->message));
}

void RealtimeServer::close_all() {
  std::vector<std::shared_ptr<WsConnection>> open;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->closing = true;
    for (auto& [raw, weak] : shared_->open)
      if (auto connection = weak.lock()) open.push_back(std::move(connection));
  }
  for (auto& connection : open)
    connection->close_from_outside(kCloseGoingAway, "the server is shutting down");
}

size_t RealtimeServer::sessions() const {
  std::lock_guard lock(shared_->mutex);
  return shared_->open.size();
}

}  // namespace glmasr::server
