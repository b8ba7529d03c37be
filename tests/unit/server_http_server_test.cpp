// The Beast server on a real loopback port with small handlers: framing, limits, deadlines,
// keep-alive, asynchronous and streamed answers, cancellation, the connection budget and
// stopping.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "server/http_server.h"
#include "server_test_client.h"

namespace glmasr::server {
namespace {

using namespace std::chrono_literals;
using test_client::Connection;
using test_client::exchange;
using test_client::status_of;
using Clock = std::chrono::steady_clock;

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// Echoes "METHOD PATH BODY".
void echo(HttpRequest request, ResponderPtr responder) {
  responder->respond(json_response(200, request.method + " " + request.path + " " + request.body));
}

class HttpServerTest : public ::testing::Test {
 protected:
  static HttpServerOptions small_limits() {
    HttpServerOptions options;
    options.io_threads = 2;
    options.head_timeout_ms = 400;
    options.body_timeout_ms = 400;
    options.idle_timeout_ms = 400;
    options.max_body_bytes = 1000;
    options.max_head_bytes = 1024;
    options.max_chunk_extension_bytes = 16;
    return options;
  }
  void start(HttpServerOptions options = small_limits(), HttpHandler handler = echo) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, std::move(handler));
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->request_stop();
    if (thread_.joinable()) thread_.join();
  }
  int port() const { return server_->port(); }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(HttpServerTest, AnswersAndClosesWhenAsked) {
  start();
  const std::string reply = exchange(port(), "GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 17), "HTTP/1.1 200 OK\r\n") << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos);
  EXPECT_EQ(reply.substr(reply.size() - 7), "GET /x ");
}

TEST_F(HttpServerTest, KeepsTheConnectionForPipelinedRequests) {
  start();
  const std::string reply =
      exchange(port(),
               "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n"
               "Connection: close\r\n\r\n");
  EXPECT_EQ(count(reply, "HTTP/1.1 200 OK"), 2u) << reply;
  EXPECT_NE(reply.find("POST /a abc"), std::string::npos);
  EXPECT_NE(reply.find("GET /b "), std::string::npos);
}

TEST_F(HttpServerTest, KeepAliveServesManyRequestsOnOneConnection) {
  start();
  Connection connection(port());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(connection.send("GET /" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string reply = connection.read_response();
    EXPECT_EQ(status_of(reply), "HTTP/1.1 200") << reply;
    EXPECT_NE(reply.find("GET /" + std::to_string(i)), std::string::npos) << reply;
  }
}

TEST_F(HttpServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  start();
  EXPECT_EQ(status_of(exchange(port(), "GET / HTTP/1.0\r\n\r\n", 2000)), "HTTP/1.0 200");
  Connection connection(port());
  connection.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  const std::string reply = connection.read_response();
  EXPECT_NE(reply.find("Connection: keep-alive"), std::string::npos) << reply;
  connection.send("GET /again HTTP/1.0\r\n\r\n");
  EXPECT_NE(connection.read_response().find("GET /again"), std::string::npos);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndTheServerLivesOn) {
  start();
  for (const std::string garbage :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 16),
        std::string("GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), std::string("\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nA\r\n\r\n"),
        std::string("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"),
        std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")}) {
    const std::string reply = exchange(port(), garbage);
    EXPECT_EQ(status_of(reply), "HTTP/1.1 400") << garbage << "\n" << reply;
    EXPECT_NE(reply.find("\"type\":\"invalid_request_error\""), std::string::npos) << reply;
  }
  EXPECT_EQ(status_of(exchange(port(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n")),
            "HTTP/1.1 200");
}

TEST_F(HttpServerTest, UnsupportedVersionGets505) {
  start();
  EXPECT_EQ(status_of(exchange(port(), "GET / HTTP/1.2\r\n\r\n")), "HTTP/1.1 505");
}

TEST_F(HttpServerTest, DecodesChunkedBodies) {
  start();
  const std::string reply = exchange(port(),
                                     "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
                                     "Connection: close\r\n\r\n3;x=1\r\nabc\r\n2\r\nde\r\n0\r\n"
                                     "X-Trailer: 1\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 200") << reply;
  EXPECT_NE(reply.find("POST /c abcde"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, OversizedContentLengthGets413BeforeTheBodyIsSent) {
  std::atomic<int> calls{0};
  start(small_limits(), [&](HttpRequest request, ResponderPtr responder) {
    ++calls;
    echo(std::move(request), std::move(responder));
  });
  const std::string reply = exchange(port(), "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 413") << reply;
  EXPECT_NE(reply.find("1000 bytes"), std::string::npos) << reply;
  EXPECT_EQ(calls, 0);
}

TEST_F(HttpServerTest, ChunkedBodyOverTheLimitGets413WhileReading) {
  start();
  std::string body = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) body += "190\r\n" + std::string(400, 'a') + "\r\n";  // 1200 bytes
  const std::string reply = exchange(port(), body + "0\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 413") << reply;
}

TEST_F(HttpServerTest, OversizedHeadGets431) {
  start();
  const std::string reply =
      exchange(port(), "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'b') + "\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 431") << reply;
}

TEST_F(HttpServerTest, LongChunkExtensionsAndTrailersAreRefused) {
  start();
  const std::string head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string extension =
      exchange(port(), head + "3;name=" + std::string(40, 'x') + "\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(status_of(extension), "HTTP/1.1 400") << extension;
  EXPECT_NE(extension.find("chunk extension"), std::string::npos) << extension;
  std::string trailers = head + "3\r\nabc\r\n0\r\n";
  for (int i = 0; i < 100; ++i)
    trailers += "X-T" + std::to_string(i) + ": " + std::string(90, 't') + "\r\n";
  const std::string trailer_reply = exchange(port(), trailers + "\r\n");
  EXPECT_EQ(status_of(trailer_reply), "HTTP/1.1 431") << trailer_reply;
}

TEST_F(HttpServerTest, ContinueIsSentOnlyWhenTheClientWaitsForIt) {
  start();
  Connection connection(port());
  connection.send("POST /e HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n");
  EXPECT_EQ(connection.read_response(2000), "HTTP/1.1 100 Continue\r\n\r\n");
  connection.send("hi");
  EXPECT_NE(connection.read_response().find("POST /e hi"), std::string::npos);
}

// The head deadline covers the whole head: a client that sends a byte every 50 ms never
// stalls a single read for long, yet is cut off when the head is not complete in time.
TEST_F(HttpServerTest, HeadDeadlineIsForTheWholeHeadNotEachRead) {
  start();
  Connection connection(port());
  const auto begin = Clock::now();
  const std::string head = "GET / HTTP/1.1\r\nX-Slow: " + std::string(200, 's');
  for (char c : head) {
    if (!connection.send(std::string(1, c))) break;
    std::this_thread::sleep_for(10ms);
    if (Clock::now() - begin > 3s) break;
  }
  const std::string reply = connection.read_all(2000);
  EXPECT_EQ(status_of(reply), "HTTP/1.1 408") << reply;
  EXPECT_NE(reply.find("head"), std::string::npos) << reply;
  EXPECT_LT(Clock::now() - begin, 2500ms);
}

TEST_F(HttpServerTest, BodyDeadlineIsForTheWholeBody) {
  start();
  Connection connection(port());
  connection.send("POST / HTTP/1.1\r\nContent-Length: 900\r\n\r\n");
  const auto begin = Clock::now();
  for (int i = 0; i < 90 && Clock::now() - begin < 3s; ++i) {
    if (!connection.send("0123456789")) break;
    std::this_thread::sleep_for(20ms);
  }
  const std::string reply = connection.read_all(2000);
  EXPECT_EQ(status_of(reply), "HTTP/1.1 408") << reply;
  EXPECT_NE(reply.find("body"), std::string::npos) << reply;
}

TEST_F(HttpServerTest, IdleConnectionIsClosedWithoutAnAnswer) {
  start();
  const auto begin = Clock::now();
  EXPECT_EQ(exchange(port(), "", 3000), "");
  EXPECT_LT(Clock::now() - begin, 2s);  // closed by the 400 ms idle timeout, not the client
}

TEST_F(HttpServerTest, AnswersLaterFromAnotherThread) {
  std::vector<std::thread> workers;
  std::mutex mutex;
  start(small_limits(), [&](HttpRequest request, ResponderPtr responder) {
    std::lock_guard lock(mutex);
    workers.emplace_back([responder, path = request.path] {
      std::this_thread::sleep_for(50ms);
      responder->respond(json_response(200, "late " + path));
    });
  });
  Connection connection(port());
  connection.send("GET /1 HTTP/1.1\r\n\r\n");
  EXPECT_NE(connection.read_response().find("late /1"), std::string::npos);
  connection.send("GET /2 HTTP/1.1\r\n\r\n");
  EXPECT_NE(connection.read_response().find("late /2"), std::string::npos);
  std::lock_guard lock(mutex);
  for (auto& worker : workers) worker.join();
}

TEST_F(HttpServerTest, StreamsChunksThenKeepsTheConnection) {
  std::thread streamer;
  start(small_limits(), [&](HttpRequest request, ResponderPtr responder) {
    if (request.path != "/stream") return echo(std::move(request), std::move(responder));
    streamer = std::thread([responder] {
      responder->start_stream({.status = 200, .content_type = "text/event-stream", .headers = {}});
      for (int i = 0; i < 3; ++i) {
        responder->write_chunk("data: " + std::to_string(i) + "\n\n");
        std::this_thread::sleep_for(20ms);
      }
      responder->write_chunk("");  // skipped: an empty chunk would end the body
      responder->end_stream();
    });
  });
  Connection connection(port());
  connection.send("GET /stream HTTP/1.1\r\n\r\n");
  const std::string reply = connection.read_response();
  EXPECT_EQ(status_of(reply), "HTTP/1.1 200") << reply;
  EXPECT_NE(reply.find("Transfer-Encoding: chunked"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Content-Type: text/event-stream"), std::string::npos) << reply;
  EXPECT_NE(
      reply.find("\r\n\r\n9\r\ndata: 0\n\n\r\n9\r\ndata: 1\n\n\r\n9\r\ndata: 2\n\n\r\n0\r\n\r\n"),
      std::string::npos)
      << reply;
  connection.send("GET /after HTTP/1.1\r\n\r\n");
  EXPECT_NE(connection.read_response().find("GET /after"), std::string::npos);
  streamer.join();
}

TEST_F(HttpServerTest, Http10StreamsAreUnframedAndEndAtClose) {
  start(small_limits(), [](HttpRequest, ResponderPtr responder) {
    responder->start_stream({.status = 200, .content_type = "text/plain", .headers = {}});
    responder->write_chunk("one ");
    responder->write_chunk("two");
    responder->end_stream();
  });
  const std::string reply = exchange(port(), "GET / HTTP/1.0\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.0 200") << reply;
  EXPECT_EQ(reply.find("Transfer-Encoding"), std::string::npos) << reply;
  EXPECT_EQ(reply.substr(reply.size() - 11), "\r\n\r\none two") << reply;
}

TEST_F(HttpServerTest, ClientDisconnectCancelsTheWaitingRequest) {
  std::mutex mutex;
  std::condition_variable changed;
  ResponderPtr held;
  bool callback_ran = false;
  start(small_limits(), [&](HttpRequest, ResponderPtr responder) {
    responder->on_cancel([&] {
      std::lock_guard lock(mutex);
      callback_ran = true;
      changed.notify_all();
    });
    std::lock_guard lock(mutex);
    held = responder;
    changed.notify_all();
  });
  {
    Connection connection(port());
    connection.send("GET /slow HTTP/1.1\r\n\r\n");
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 5s, [&] { return held != nullptr; }));
    EXPECT_FALSE(held->cancelled());
  }  // the client goes away without an answer
  std::unique_lock lock(mutex);
  EXPECT_TRUE(changed.wait_for(lock, 5s, [&] { return callback_ran; }));
  EXPECT_TRUE(held->cancelled());
  held->respond(json_response(200, "{}"));  // too late: dropped, no crash
  held.reset();
}

TEST_F(HttpServerTest, RequestDeadlineCancelsWith504) {
  ResponderPtr held;
  std::mutex mutex;
  HttpServerOptions options = small_limits();
  options.request_timeout_ms = 200;
  start(options, [&](HttpRequest, ResponderPtr responder) {
    std::lock_guard lock(mutex);
    held = responder;
  });
  const std::string reply = exchange(port(), "GET / HTTP/1.1\r\n\r\n", 3000);
  EXPECT_EQ(status_of(reply), "HTTP/1.1 504") << reply;
  std::lock_guard lock(mutex);
  ASSERT_TRUE(held);
  EXPECT_TRUE(held->cancelled());
}

TEST_F(HttpServerTest, HandlerExceptionsAndDroppedRespondersBecome500) {
  start(small_limits(), [](HttpRequest request, ResponderPtr) {
    if (request.path == "/throw") throw std::runtime_error("boom");
  });
  const std::string thrown = exchange(port(), "GET /throw HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(thrown), "HTTP/1.1 500") << thrown;
  EXPECT_NE(thrown.find("boom"), std::string::npos);
  const std::string dropped = exchange(port(), "GET /drop HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(status_of(dropped), "HTTP/1.1 500") << dropped;
  EXPECT_NE(dropped.find("unanswered"), std::string::npos);
}

TEST_F(HttpServerTest, OverTheConnectionBudgetGets503WithRetryAfter) {
  HttpServerOptions options = small_limits();
  options.max_connections = 2;
  options.idle_timeout_ms = 5000;
  start(options);
  Connection first(port()), second(port());
  first.send("GET / HTTP/1.1\r\n\r\n");
  second.send("GET / HTTP/1.1\r\n\r\n");
  ASSERT_EQ(status_of(first.read_response()), "HTTP/1.1 200");
  ASSERT_EQ(status_of(second.read_response()), "HTTP/1.1 200");
  const std::string refused = exchange(port(), "GET / HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(refused), "HTTP/1.1 503") << refused;
  EXPECT_NE(refused.find("Retry-After: 1"), std::string::npos) << refused;
}

TEST_F(HttpServerTest, StopRefusesNewClientsAtOnceAndFinishesRequestsInProgress) {
  std::mutex mutex;
  std::condition_variable changed;
  ResponderPtr held;
  std::atomic<bool> stopped_hook{false};
  HttpServerOptions options = small_limits();
  options.idle_timeout_ms = 60000;
  options.on_stop = [&] { stopped_hook = true; };
  start(options, [&](HttpRequest, ResponderPtr responder) {
    std::lock_guard lock(mutex);
    held = responder;
    changed.notify_all();
  });
  Connection idle(port());  // keep-alive, between requests: closed at once
  Connection busy(port());
  busy.send("GET /work HTTP/1.1\r\n\r\n");
  {
    std::unique_lock lock(mutex);
    ASSERT_TRUE(changed.wait_for(lock, 5s, [&] { return held != nullptr; }));
  }
  server_->request_stop();
  const auto begin = Clock::now();
  while (Connection(port()).connected() && Clock::now() - begin < 2s)
    std::this_thread::sleep_for(5ms);
  EXPECT_FALSE(Connection(port()).connected()) << "the listening socket is still open";
  EXPECT_TRUE(stopped_hook);
  EXPECT_EQ(idle.read_all(2000), "");  // closed without an answer, not hung
  {
    std::lock_guard lock(mutex);
    held->respond(json_response(200, "finished"));
    held.reset();
  }
  const std::string reply = busy.read_all(3000);
  EXPECT_EQ(status_of(reply), "HTTP/1.1 200") << reply;
  EXPECT_NE(reply.find("Connection: close"), std::string::npos) << reply;
  EXPECT_NE(reply.find("finished"), std::string::npos);
  thread_.join();  // run() returned: nothing was left in progress
}

TEST_F(HttpServerTest, WebSocketUpgradeIsRefusedUntilRealtimeExists) {
  start();
  const std::string reply = exchange(port(),
                                     "GET /v1/realtime HTTP/1.1\r\nConnection: Upgrade\r\n"
                                     "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n");
  EXPECT_EQ(status_of(reply), "HTTP/1.1 501") << reply;
}

TEST(HttpServerBind, NamesTheAddressWhenItCannotListen) {
  HttpServerOptions options;
  options.host = "256.1.1.1";
  options.port = 0;
  try {
    HttpServer server(options, echo);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("256.1.1.1"), std::string::npos) << e.what();
  }
}

TEST(HttpServerThreads, DefaultsToAtMostFourIoThreads) {
  HttpServerOptions options;
  options.port = 0;
  HttpServer server(options, echo);
  EXPECT_GE(server.io_threads(), 1);
  EXPECT_LE(server.io_threads(), 4);
}

}  // namespace
}  // namespace glmasr::server
