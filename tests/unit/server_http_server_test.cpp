// The socket loop on a real loopback port with a trivial handler: keep-alive, malformed input,
// slow clients, concurrency and stopping.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/http_server.h"

namespace glmasr::server {
namespace {

// Sends `bytes`, then reads until the server closes or `timeout_ms` passes.
std::string exchange(int port, const std::string& bytes, int timeout_ms = 5000,
                     bool half_close = false) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "connect failed";
  }
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (half_close) ::shutdown(fd, SHUT_WR);
  std::string reply;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd poll_fd = {fd, POLLIN, 0};
    if (left.count() <= 0 || ::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) break;
    char buffer[4096];
    const ssize_t got = ::recv(fd, buffer, sizeof buffer, 0);
    if (got <= 0) break;
    reply.append(buffer, static_cast<size_t>(got));
  }
  ::close(fd);
  return reply;
}

size_t count(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options, HttpHandler handler) {
    options.host = "127.0.0.1";
    options.port = 0;
    server_ = std::make_unique<HttpServer>(options, std::move(handler));
    thread_ = std::thread([this] { server_->run(); });
  }
  void start() {
    HttpServerOptions options;
    options.limits.read_timeout_ms = 300;
    options.limits.idle_timeout_ms = 300;
    options.limits.max_body_bytes = 1000;
    start(options, [](const HttpRequest& request) {
      return json_response(200, request.method + " " + request.path + " " + request.body);
    });
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
  EXPECT_NE(reply.find("Connection: keep-alive"), std::string::npos);
  EXPECT_NE(reply.find("GET /b "), std::string::npos);
}

TEST_F(HttpServerTest, MalformedRequestsGet400AndTheServerLivesOn) {
  start();
  for (const std::string garbage :
       {std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 16),
        std::string("GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n"), std::string("\r\n\r\n"),
        std::string("GET / HTTP/1.1\r\nA\r\n\r\n")}) {
    const std::string reply = exchange(port(), garbage);
    EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 400") << reply;
    EXPECT_NE(reply.find("\"type\":\"invalid_request_error\""), std::string::npos);
  }
  EXPECT_EQ(exchange(port(), "GET / HTTP/1.0\r\n\r\n").substr(0, 12), "HTTP/1.1 200");
}

TEST_F(HttpServerTest, OversizedBodyGets413BeforeItIsSent) {
  start();
  const std::string reply = exchange(port(), "POST / HTTP/1.1\r\nContent-Length: 5000\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 413") << reply;
}

TEST_F(HttpServerTest, StalledClientTimesOutWith408) {
  start();
  const auto start_time = std::chrono::steady_clock::now();
  const std::string reply = exchange(port(), "POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 408") << reply;
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, std::chrono::seconds(4));
}

TEST_F(HttpServerTest, SilentConnectionIsClosedWithoutAnswer) {
  start();
  EXPECT_EQ(exchange(port(), ""), "");
}

TEST_F(HttpServerTest, HandlerExceptionsBecome500) {
  HttpServerOptions options;
  start(options, [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); });
  const std::string reply = exchange(port(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 500") << reply;
  EXPECT_NE(reply.find("boom"), std::string::npos);
}

TEST_F(HttpServerTest, ServesConnectionsConcurrently) {
  // Every handler waits until all four are inside it at once: only concurrent threads pass.
  std::atomic<int> inside{0};
  HttpServerOptions options;
  options.connection_threads = 4;
  start(options, [&](const HttpRequest&) {
    ++inside;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (inside < 4 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return json_response(inside >= 4 ? 200 : 500, "{}");
  });
  std::vector<std::thread> clients;
  std::vector<std::string> replies(4);
  for (int i = 0; i < 4; ++i)
    clients.emplace_back([&, i] {
      replies[i] = exchange(port(), "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 10000);
    });
  for (auto& client : clients) client.join();
  for (const std::string& reply : replies) EXPECT_EQ(reply.substr(0, 12), "HTTP/1.1 200") << reply;
}

TEST_F(HttpServerTest, StopEndsRunEvenWithAnIdleKeepAliveConnection) {
  HttpServerOptions options;
  options.limits.idle_timeout_ms = 60000;
  start(options, [](const HttpRequest&) { return json_response(200, "{}"); });
  std::thread idle([&] { exchange(port(), "GET / HTTP/1.1\r\n\r\n", 20000); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const auto start_time = std::chrono::steady_clock::now();
  server_->request_stop();
  thread_.join();
  idle.join();  // the server closed the connection, so the client's read ended
  EXPECT_LT(std::chrono::steady_clock::now() - start_time, std::chrono::seconds(5));
}

TEST(HttpServerBind, NamesTheAddressWhenItCannotListen) {
  HttpServerOptions options;
  options.host = "256.1.1.1";
  options.port = 0;
  try {
    HttpServer server(options, [](const HttpRequest&) { return HttpResponse{}; });
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("256.1.1.1"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmasr::server
