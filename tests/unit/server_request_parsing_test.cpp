// Beast's request parser with the server's limits, without sockets: each refusal a request
// earns (413, 431, 505, 400 for a long chunk extension or bad framing, nothing for a request
// cut off) and the request the routes see.
#include <gtest/gtest.h>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string>

#include "server/request_parsing.h"

namespace glmasr::server {
namespace {

constexpr RequestLimits kLimits{
    .max_head_bytes = 256, .max_body_bytes = 64, .max_chunk_extension_bytes = 8};

struct Parsed {
  std::optional<HttpResponse> refusal;  // when it did not parse
  bool closed = false;                  // did not parse, nothing to answer
  std::optional<HttpRequest> request;   // when it did
};

Parsed parse(const std::string& bytes) {
  BeastRequestParser parser;
  ChunkHeaderCallback on_chunk_header;
  bool extension_too_long = false;
  limit_request_parser(parser, kLimits, on_chunk_header, extension_too_long);
  parser.eager(true);
  boost::beast::error_code error;
  size_t used = 0;
  while (!parser.is_done() && !error) {
    const size_t consumed =
        parser.put(boost::asio::buffer(bytes.data() + used, bytes.size() - used), error);
    used += consumed;
    if (error == boost::beast::http::error::need_more || (!error && consumed == 0)) {
      error = {};
      parser.put_eof(error);  // the bytes ran out: the client closed
      break;
    }
  }
  Parsed parsed;
  if (error) {
    parsed.refusal = refusal_for(error, parser.is_header_done(), extension_too_long, kLimits);
    parsed.closed = !parsed.refusal;
  } else {
    parsed.request = to_http_request(parser.release());
  }
  return parsed;
}

TEST(RequestParsing, TheRoutesSeeMethodPathQueryHeadersAndBody) {
  const Parsed parsed = parse(
      "POST /v1/audio/transcriptions?stream=true HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n"
      "Content-Length: 3\r\n\r\nabc");
  ASSERT_TRUE(parsed.request);
  const HttpRequest& request = *parsed.request;
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/audio/transcriptions");
  EXPECT_EQ(request.query, "stream=true");
  ASSERT_EQ(request.headers.size(), 3u);
  EXPECT_EQ(request.headers[1], (std::pair<std::string, std::string>{"X-A", "1"}));
  EXPECT_EQ(request.body, "abc");
  EXPECT_TRUE(request.keep_alive);
  EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").request->keep_alive);
}

TEST(RequestParsing, ABodyOverTheLimitIs413FromItsContentLength) {
  const Parsed parsed = parse("POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n");
  ASSERT_TRUE(parsed.refusal);
  EXPECT_EQ(parsed.refusal->status, 413);
  EXPECT_NE(parsed.refusal->body.find("64 bytes"), std::string::npos);
}

TEST(RequestParsing, AHeadOverTheLimitIs431) {
  const Parsed parsed = parse("GET / HTTP/1.1\r\nX: " + std::string(300, 'a') + "\r\n\r\n");
  ASSERT_TRUE(parsed.refusal);
  EXPECT_EQ(parsed.refusal->status, 431);
}

TEST(RequestParsing, AnotherHttpVersionIs505) {
  const Parsed parsed = parse("GET / HTTP/2.0\r\n\r\n");
  ASSERT_TRUE(parsed.refusal);
  EXPECT_EQ(parsed.refusal->status, 505);
}

TEST(RequestParsing, ALongChunkExtensionIs400NamingIt) {
  const Parsed parsed = parse(
      "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1;abcdefghij=1\r\nx\r\n0\r\n\r\n");
  ASSERT_TRUE(parsed.refusal);
  EXPECT_EQ(parsed.refusal->status, 400);
  EXPECT_NE(parsed.refusal->body.find("chunk extension"), std::string::npos);
}

TEST(RequestParsing, BadFramingIs400AndACutOffRequestIsNotAnswered) {
  const Parsed bad = parse("GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n");
  ASSERT_TRUE(bad.refusal);
  EXPECT_EQ(bad.refusal->status, 400);
  EXPECT_TRUE(parse("POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc").closed);
}

}  // namespace
}  // namespace glmasr::server
