// Fairness on the CPU: more keep-alive clients than I/O threads are all served, clients that
// trickle one byte at a time do not stall anyone, and a thousand idle connections are held
// (no thread each) while requests still flow.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "server/http_server.h"
#include "server_test_client.h"

namespace glmasr::server {
namespace {

using namespace std::chrono_literals;
using test_client::Connection;
using test_client::status_of;
using Clock = std::chrono::steady_clock;

class FairnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    HttpServerOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.io_threads = 2;
    options.head_timeout_ms = 60000;  // the slow clients must not simply be cut off
    options.idle_timeout_ms = 60000;
    server_ =
        std::make_unique<HttpServer>(options, [](HttpRequest request, ResponderPtr responder) {
          responder->respond(json_response(200, "{\"path\":\"" + request.path + "\"}"));
        });
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    server_->request_stop();
    thread_.join();
  }
  int port() const { return server_->port(); }

  // Seconds one GET /health takes on a fresh connection.
  double health_seconds() {
    const auto begin = Clock::now();
    Connection connection(port());
    connection.send("GET /health HTTP/1.1\r\n\r\n");
    EXPECT_EQ(status_of(connection.read_response(5000)), "HTTP/1.1 200");
    return std::chrono::duration<double>(Clock::now() - begin).count();
  }

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(FairnessTest, MoreKeepAliveClientsThanIoThreadsAreAllServed) {
  constexpr int kClients = 12, kRequests = 40;
  std::vector<int> served(kClients, 0);
  std::vector<std::thread> clients;
  for (int c = 0; c < kClients; ++c)
    clients.emplace_back([&, c] {
      Connection connection(port());
      for (int r = 0; r < kRequests; ++r) {
        if (!connection.send("GET /c" + std::to_string(c) + " HTTP/1.1\r\n\r\n")) return;
        if (status_of(connection.read_response(10000)) != "HTTP/1.1 200") return;
        ++served[c];
      }
    });
  for (auto& client : clients) client.join();
  for (int c = 0; c < kClients; ++c) EXPECT_EQ(served[c], kRequests) << "client " << c;
}

TEST_F(FairnessTest, SlowLorisClientsDoNotStallOthers) {
  constexpr int kSlow = 16;
  std::atomic<bool> done{false};
  std::vector<std::unique_ptr<Connection>> slow;
  for (int i = 0; i < kSlow; ++i) slow.push_back(std::make_unique<Connection>(port()));
  std::thread trickle([&] {
    const std::string head = "GET /slow HTTP/1.1\r\nX-Filler: ";
    for (size_t at = 0; !done; at = (at + 1) % head.size()) {
      for (auto& connection : slow)
        connection->send(std::string(1, head[std::min(at, head.size() - 1)]));
      std::this_thread::sleep_for(100ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  double worst = 0;
  for (int i = 0; i < 20; ++i) worst = std::max(worst, health_seconds());
  Connection busy(port());
  for (int i = 0; i < 100; ++i) {
    busy.send("GET /busy HTTP/1.1\r\n\r\n");
    ASSERT_EQ(status_of(busy.read_response(5000)), "HTTP/1.1 200") << i;
  }
  done = true;
  trickle.join();
  EXPECT_LT(worst, 0.25) << "GET /health took " << worst << " s beside " << kSlow
                         << " slow clients";
}

TEST_F(FairnessTest, ThousandIdleConnectionsAreHeldWhileRequestsFlow) {
  // Client and server ends both live in this process: two descriptors per connection.
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  limit.rlim_cur = std::max(limit.rlim_cur, std::min<rlim_t>(limit.rlim_max, 4096));
  setrlimit(RLIMIT_NOFILE, &limit);
  getrlimit(RLIMIT_NOFILE, &limit);
  const int idle_count = static_cast<int>(std::min<rlim_t>(1000, (limit.rlim_cur - 64) / 2));
  if (idle_count < 1000)
    std::printf("fd limit %lu: holding %d idle connections\n",
                static_cast<unsigned long>(limit.rlim_cur), idle_count);
  std::vector<std::unique_ptr<Connection>> idle;
  for (int i = 0; i < idle_count; ++i) {
    idle.push_back(std::make_unique<Connection>(port()));
    ASSERT_TRUE(idle.back()->connected()) << i;
  }
  const auto deadline = Clock::now() + 10s;
  while (server_->open_connections() < static_cast<size_t>(idle_count) && Clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(server_->open_connections(), static_cast<size_t>(idle_count));
  Connection active(port());
  for (int i = 0; i < 50; ++i) {
    active.send("GET /active HTTP/1.1\r\n\r\n");
    ASSERT_EQ(status_of(active.read_response(5000)), "HTTP/1.1 200") << i;
  }
  EXPECT_LT(health_seconds(), 0.25);
  // The idle ones are still served when they speak.
  idle.front()->send("GET /late HTTP/1.1\r\n\r\n");
  EXPECT_EQ(status_of(idle.front()->read_response(5000)), "HTTP/1.1 200");
}

}  // namespace
}  // namespace glmasr::server
