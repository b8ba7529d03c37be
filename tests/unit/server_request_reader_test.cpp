// The request reader over a scripted stream: pipelining, bodies split across reads, limits
// enforced before reading, 100-continue, timeouts and connections cut short.
#include <gtest/gtest.h>

#include <deque>

#include "server/byte_stream.h"
#include "server/request_reader.h"

namespace glmasr::server {
namespace {

// Hands out the scripted pieces one read at a time; "" stands for a timeout. EOF afterwards.
class ScriptedStream : public ByteStream {
 public:
  explicit ScriptedStream(std::deque<std::string> pieces) : pieces_(std::move(pieces)) {}

  ReadResult read_some(char* buffer, size_t capacity, int) override {
    ++reads;
    if (pieces_.empty()) return {ReadStatus::kEof, 0};
    std::string& piece = pieces_.front();
    if (piece.empty()) {
      pieces_.pop_front();
      return {ReadStatus::kTimeout, 0};
    }
    const size_t n = std::min(capacity, piece.size());
    std::copy_n(piece.data(), n, buffer);
    piece.erase(0, n);
    if (piece.empty()) pieces_.pop_front();
    return {ReadStatus::kData, n};
  }
  void write_all(std::string_view bytes) override { written += bytes; }

  int reads = 0;
  std::string written;
  size_t pieces_left() const { return pieces_.size(); }

 private:
  std::deque<std::string> pieces_;
};

RequestLimits small_limits() {
  RequestLimits limits;
  limits.max_head_bytes = 256;
  limits.max_body_bytes = 100;
  return limits;
}

int status_of(std::deque<std::string> pieces) {
  ScriptedStream stream(std::move(pieces));
  RequestReader reader(stream, small_limits());
  try {
    reader.read_next();
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

TEST(RequestReader, ReadsPipelinedRequestsFromOneRead) {
  ScriptedStream stream(
      {"POST /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\n\r\n"});
  RequestReader reader(stream, small_limits());
  const auto first = reader.read_next();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->path, "/a");
  EXPECT_EQ(first->body, "hello");
  const auto second = reader.read_next();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->path, "/b");
  EXPECT_EQ(second->body, "");
  EXPECT_FALSE(reader.read_next());
}

TEST(RequestReader, AssemblesHeadAndBodySplitAcrossReads) {
  ScriptedStream stream(
      {"POST /a HT", "TP/1.1\r\nContent-Le", "ngth: 11\r\n", "\r\nhello", " world"});
  RequestReader reader(stream, small_limits());
  const auto request = reader.read_next();
  ASSERT_TRUE(request);
  EXPECT_EQ(request->body, "hello world");
}

TEST(RequestReader, DecodesChunkedBodies) {
  ScriptedStream stream({"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
                         "c\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"});
  RequestReader reader(stream, small_limits());
  EXPECT_EQ(reader.read_next()->body, "abc");
  EXPECT_EQ(reader.read_next()->method, "GET");
}

TEST(RequestReader, IdleConnectionEndsQuietly) {
  for (std::deque<std::string> pieces : {std::deque<std::string>{}, std::deque<std::string>{""}}) {
    ScriptedStream stream(pieces);
    RequestReader reader(stream, small_limits());
    EXPECT_FALSE(reader.read_next());
  }
}

TEST(RequestReader, RefusesAnOversizedContentLengthWithoutReadingTheBody) {
  ScriptedStream stream({"POST / HTTP/1.1\r\nContent-Length: 101\r\nExpect: 100-continue\r\n\r\n",
                         std::string(101, 'x')});
  RequestReader reader(stream, small_limits());
  try {
    reader.read_next();
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 413);
    EXPECT_NE(std::string(e.what()).find("101 bytes"), std::string::npos) << e.what();
  }
  EXPECT_EQ(stream.pieces_left(), 1u);  // the body was never read
  EXPECT_EQ(stream.written, "");        // and no 100 Continue invited it
}

TEST(RequestReader, StopsReadingAChunkedBodyPastTheLimit) {
  ScriptedStream stream({"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                         "32\r\n" + std::string(50, 'x') + "\r\n", "33\r\n",
                         std::string(50, 'x') + "\r\n0\r\n\r\n"});
  RequestReader reader(stream, small_limits());
  EXPECT_THROW(reader.read_next(), HttpError);
  EXPECT_EQ(stream.pieces_left(), 1u);
}

TEST(RequestReader, SendsContinueOnlyWhenTheClientWaitsForIt) {
  ScriptedStream stream(
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n", "ok"});
  RequestReader reader(stream, small_limits());
  EXPECT_EQ(reader.read_next()->body, "ok");
  EXPECT_EQ(stream.written, "HTTP/1.1 100 Continue\r\n\r\n");

  ScriptedStream no_expect({"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"});
  RequestReader plain(no_expect, small_limits());
  EXPECT_EQ(plain.read_next()->body, "ok");
  EXPECT_EQ(no_expect.written, "");
}

TEST(RequestReader, ReportsCutShortSlowAndOversizedRequests) {
  EXPECT_EQ(status_of({"GET / HTTP/1.1\r\nHost"}), 400);                           // EOF in head
  EXPECT_EQ(status_of({"GET / HTTP/1.1\r\nHost", ""}), 408);                       // stall in head
  EXPECT_EQ(status_of({"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"}), 400);  // EOF in body
  EXPECT_EQ(status_of({"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", ""}), 408);
  EXPECT_EQ(status_of({"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab"}), 400);
  EXPECT_EQ(status_of({"GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n"}), 431);
  EXPECT_EQ(status_of({"GET / HTTP/1.1\r\nX: " + std::string(300, 'a')}), 431);
  EXPECT_EQ(status_of({"garbage\r\n\r\n"}), 400);
  EXPECT_EQ(status_of({"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n"}), 400);
}

}  // namespace
}  // namespace glmasr::server
