// The Realtime WebSocket layer on a real loopback server with a Beast client and a fake
// transcription: the handshake and its refusals (route, intent, budget), events both ways, a
// disconnect cancelling the session's work, a client that stops reading closed with 1008
// while another client goes on, and shutdown closing sessions with 1001.
#include "server/realtime_socket.h"

#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "server/http_server.h"
#include "server_test_client.h"
#include "stream/base64.h"

namespace glmasr::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace net = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = net::ip::tcp;

// Holds every turn until the test answers it.
struct HeldTurns {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<stream::TurnRequest> requests;
  std::vector<std::function<void(stream::TurnResult)>> dones;
  bool answer_at_once = false;

  void operator()(stream::TurnRequest request, std::function<void(stream::TurnResult)> done) {
    if (answer_at_once) {
      if (request.on_delta) request.on_delta("hi");
      return done({.transcript = "hi", .error = "", .input_tokens = 1, .output_tokens = 1});
    }
    std::lock_guard lock(mutex);
    requests.push_back(std::move(request));
    dones.push_back(std::move(done));
    changed.notify_all();
  }
  bool wait_for(size_t count) {
    std::unique_lock lock(mutex);
    return changed.wait_for(lock, 5s, [&] { return requests.size() >= count; });
  }
};

class RealtimeSocketTest : public ::testing::Test {
 protected:
  void start(RealtimeServerOptions options = {}) {
    options.close_timeout_ms = 1000;
    realtime_ = std::make_unique<RealtimeServer>(
        options, [this](stream::TurnRequest request, std::function<void(stream::TurnResult)> done) {
          turns_(std::move(request), std::move(done));
        });
    HttpServerOptions http;
    http.port = 0;
    http.io_threads = 2;
    http.on_upgrade = [this](std::unique_ptr<UpgradeRequest> upgrade) {
      realtime_->accept(std::move(upgrade));
    };
    http.on_stop = [this] { realtime_->close_all(); };
    server_ = std::make_unique<HttpServer>(http, [](HttpRequest, ResponderPtr responder) {
      responder->respond(json_response(200, "{}"));
    });
    thread_ = std::thread([this] { server_->run(); });
  }
  void TearDown() override {
    if (server_) server_->request_stop();
    if (thread_.joinable()) thread_.join();
  }

  // A connected, handshaken client.
  struct Client {
    net::io_context ioc;
    websocket::stream<tcp::socket> ws{ioc};
    beast::flat_buffer buffer;

    explicit Client(int port, const std::string& target = "/v1/realtime?intent=transcription") {
      ws.next_layer().connect(
          {net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
      ws.handshake("127.0.0.1", target);
    }
    void send(const json& event) { ws.write(net::buffer(event.dump())); }
    json read() {
      buffer.clear();
      ws.read(buffer);
      return json::parse(beast::buffers_to_string(buffer.data()));
    }
    // Reads events until one of `type` (returned); throws when the connection closes.
    json read_until(const std::string& type) {
      for (;;) {
        json event = read();
        if (event["type"] == type) return event;
      }
    }
  };

  void manual(Client& client) {
    client.send({{"type", "session.update"},
                 {"session",
                  {{"audio",
                    {{"input",
                      {{"format", {{"type", "audio/pcm"}, {"rate", 16000}}},
                       {"turn_detection", nullptr}}}}}}}});
    client.read_until("session.updated");
  }
  void append_and_commit(Client& client, size_t samples = 16000) {
    const std::string pcm(samples * 2, '\x10');
    client.send({{"type", "input_audio_buffer.append"}, {"audio", stream::encode_base64(pcm)}});
    client.send({{"type", "input_audio_buffer.commit"}});
  }
  int port() const { return server_->port(); }

  HeldTurns turns_;
  std::unique_ptr<RealtimeServer> realtime_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
};

TEST_F(RealtimeSocketTest, HandshakeThenEventsBothWays) {
  turns_.answer_at_once = true;
  start();
  Client client(port());
  EXPECT_EQ(client.read()["type"], "session.created");
  manual(client);
  append_and_commit(client);
  EXPECT_EQ(client.read_until("input_audio_buffer.committed")["item_id"], "item_1");
  EXPECT_EQ(client.read()["delta"], "hi");
  const json completed = client.read();
  EXPECT_EQ(completed["type"], "conversation.item.input_audio_transcription.completed");
  EXPECT_EQ(completed["transcript"], "hi");
  client.ws.write(net::buffer(std::string("{oops")));
  EXPECT_EQ(client.read()["error"]["code"], "invalid_json");
  client.ws.binary(true);
  client.ws.write(net::buffer(std::string("\x01\x02", 2)));
  EXPECT_EQ(client.read()["error"]["code"], "binary_not_supported");
  EXPECT_EQ(realtime_->sessions(), 1u);
}

TEST_F(RealtimeSocketTest, RefusesOtherRoutesIntentsAndOverTheBudget) {
  RealtimeServerOptions options;
  options.max_sessions = 1;
  start(options);
  const std::string upgrade =
      " HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
  const std::string wrong_route = test_client::exchange(port(), "GET /v1/other" + upgrade);
  EXPECT_EQ(test_client::status_of(wrong_route), "HTTP/1.1 404") << wrong_route;
  const std::string no_intent = test_client::exchange(port(), "GET /v1/realtime" + upgrade);
  EXPECT_EQ(test_client::status_of(no_intent), "HTTP/1.1 400") << no_intent;
  EXPECT_NE(no_intent.find("intent=transcription"), std::string::npos);
  const std::string conversation =
      test_client::exchange(port(), "GET /v1/realtime?intent=conversation" + upgrade);
  EXPECT_EQ(test_client::status_of(conversation), "HTTP/1.1 400") << conversation;

  Client first(port());
  first.read();
  const std::string busy =
      test_client::exchange(port(), "GET /v1/realtime?intent=transcription" + upgrade);
  EXPECT_EQ(test_client::status_of(busy), "HTTP/1.1 503") << busy;
  EXPECT_NE(busy.find("Retry-After"), std::string::npos);
}

TEST_F(RealtimeSocketTest, ADisconnectCancelsTheSessionsWork) {
  start();
  std::shared_ptr<std::atomic<bool>> cancelled;
  {
    Client client(port());
    client.read();
    manual(client);
    append_and_commit(client);
    ASSERT_TRUE(turns_.wait_for(1));
    std::lock_guard lock(turns_.mutex);
    cancelled = turns_.requests[0].cancelled;
    EXPECT_FALSE(cancelled->load());
  }  // the client goes away (no close handshake)
  for (int i = 0; i < 300 && !cancelled->load(); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(cancelled->load());
  std::lock_guard lock(turns_.mutex);
  turns_.dones[0]({.transcript = "late", .error = "", .input_tokens = 1, .output_tokens = 1});
  for (int i = 0; i < 300 && realtime_->sessions() > 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(realtime_->sessions(), 0u);
}

TEST_F(RealtimeSocketTest, AClientThatStopsReadingIsClosedWith1008AndOthersGoOn) {
  RealtimeServerOptions options;
  options.max_send_queue_bytes = 64 << 10;
  start(options);
  Client stuck(port());
  stuck.read();
  // Every unknown event is answered with an error event; this client never reads them.
  const std::string event = json({{"type", "nope"}, {"event_id", std::string(120, 'x')}}).dump();
  std::atomic<bool> sending{true};
  std::thread flood([&] {
    try {
      for (int i = 0; i < 200000 && sending; ++i) stuck.ws.write(net::buffer(event));
    } catch (const std::exception&) {  // the server closed the connection: expected
    }
  });

  turns_.answer_at_once = true;
  Client other(port());
  other.read();
  manual(other);
  append_and_commit(other);
  EXPECT_EQ(other.read_until("conversation.item.input_audio_transcription.completed")["transcript"],
            "hi");
  sending = false;
  flood.join();
  // Reading now: the errors written before the queue filled, then the close frame.
  try {
    for (;;) stuck.read();
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), websocket::error::closed) << e.what();
    EXPECT_EQ(stuck.ws.reason().code, websocket::close_code::policy_error);
  }
}

TEST_F(RealtimeSocketTest, ShutdownClosesSessionsWith1001) {
  start();
  Client client(port());
  client.read();
  server_->request_stop();
  try {
    for (;;) client.read();
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), websocket::error::closed) << e.what();
    EXPECT_EQ(client.ws.reason().code, websocket::close_code::going_away);
  }
  thread_.join();
}

TEST(TurnTranscriber, ATurnIsABackendJobAndItsOutcomeATurnResult) {
  TranscriptionJob seen;
  TranscriptionDone finish;
  const stream::TranscribeTurnFn transcribe =
      turn_transcriber([&](TranscriptionJob job, TranscriptionDone done) {
        seen = std::move(job);
        finish = std::move(done);
      });
  stream::TurnRequest request;
  request.audio.samples.assign(1600, 0.25f);
  request.prompt = "names";
  request.background = true;
  request.cancelled = std::make_shared<std::atomic<bool>>(false);
  std::string deltas;
  request.on_delta = [&](std::string_view delta) { deltas += delta; };
  std::optional<stream::TurnResult> result;
  transcribe(request, [&](stream::TurnResult r) { result = std::move(r); });
  EXPECT_EQ(seen.audio.samples.size(), 1600u);
  EXPECT_EQ(seen.prompt, "names");
  EXPECT_TRUE(seen.background);
  EXPECT_EQ(seen.cancelled, request.cancelled);
  ASSERT_TRUE(seen.on_text_delta);
  seen.on_text_delta("ab");
  EXPECT_EQ(deltas, "ab");
  seen.events.prompt_tokens(40);
  TranscriptionOutcome outcome;
  Transcript transcript;
  transcript.text = "ab";
  transcript.segments.push_back({.id = 0,
                                 .start = 0,
                                 .end = 1,
                                 .text = "ab",
                                 .tokens = {1, 2, 3},
                                 .avg_logprob = 0,
                                 .loop_detected = false,
                                 .stop_reason = "eos"});
  outcome.result.transcript = transcript;
  finish(outcome);
  ASSERT_TRUE(result && result->transcript);
  EXPECT_EQ(*result->transcript, "ab");
  EXPECT_EQ(result->input_tokens, 40);
  EXPECT_EQ(result->output_tokens, 3);

  transcribe(request, [&](stream::TurnResult r) { result = std::move(r); });
  finish({.result = {},
          .failure = std::make_exception_ptr(HttpError(503, "too many")),
          .cancelled = false});
  EXPECT_FALSE(result->transcript);
  EXPECT_EQ(result->error, "too many");
}

}  // namespace
}  // namespace glmasr::server
