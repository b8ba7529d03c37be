// The request head parser and the other pure HTTP helpers of the server, with malformed input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "server/http_message.h"

namespace glmasr::server {
namespace {

int status_of(std::string_view head) {
  try {
    parse_request_head(head);
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

TEST(HttpRequestHead, ParsesRequestLineAndHeaders) {
  const HttpRequest request = parse_request_head(
      "POST /v1/audio/transcriptions?a=1 HTTP/1.1\r\nHost: x\r\nContent-Type:  text/plain \r\n"
      "X-Empty:\r\n\r\n");
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.target, "/v1/audio/transcriptions?a=1");
  EXPECT_EQ(request.path, "/v1/audio/transcriptions");
  EXPECT_EQ(request.query, "a=1");
  EXPECT_EQ(request.version_minor, 1);
  ASSERT_EQ(request.headers.size(), 3u);
  EXPECT_EQ(request.header("content-type"), "text/plain");
  EXPECT_EQ(request.header("X-EMPTY"), "");
  EXPECT_FALSE(request.header("Missing"));
}

TEST(HttpRequestHead, AcceptsBareLineFeedsAndLeadingBlankLines) {
  const HttpRequest request = parse_request_head("\r\nGET /health HTTP/1.0\nA: b\n\n");
  EXPECT_EQ(request.path, "/health");
  EXPECT_EQ(request.version_minor, 0);
  EXPECT_EQ(request.header("a"), "b");
}

TEST(HttpRequestHead, RejectsMalformedHeads) {
  const std::vector<std::pair<std::string, int>> cases = {
      {"", 400},
      {"\r\n\r\n", 400},
      {"GET\r\n\r\n", 400},
      {"GET /\r\n\r\n", 400},
      {"GET  HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.1 extra\r\n\r\n", 400},
      {"G(T / HTTP/1.1\r\n\r\n", 400},
      {"GET health HTTP/1.1\r\n\r\n", 400},
      {"GET http://x/ HTTP/1.1\r\n\r\n", 400},
      {"GET /a\x01 HTTP/1.1\r\n\r\n", 400},
      {"GET / HTTP/1.x\r\n\r\n", 400},
      {"GET / HTTPS/1.1\r\n\r\n", 400},
      {"GET / HTTP/11\r\n\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/1.2\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\n: value\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nBad Name: v\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400},
      {std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 27), 400},
  };
  for (const auto& [head, status] : cases) EXPECT_EQ(status_of(head), status) << head;
}

TEST(HttpRequestHead, LimitsTheHeaderCount) {
  std::string head = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(status_of(head + "\r\n"), 431);
}

TEST(HttpRequestHead, ErrorMessagesQuoteTheBadPart) {
  try {
    parse_request_head("GET / HTTP/1.1\r\nBroken line\r\n\r\n");
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_NE(std::string(e.what()).find("'Broken line'"), std::string::npos) << e.what();
  }
}

TEST(HttpHeadEnd, FindsTheBlankLine) {
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\n\r\nbody"), 18u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\n\nbody"), 16u);
  EXPECT_EQ(find_head_end("GET / HTTP/1.1\r\nA: b\r\n\r\n"), 24u);
  EXPECT_FALSE(find_head_end("GET / HTTP/1.1\r\nA: b\r\n"));
  EXPECT_FALSE(find_head_end("GET / HTTP/1.1\r\nA: b\r\n\r"));
  EXPECT_FALSE(find_head_end(""));
}

TEST(HttpKeepAlive, FollowsVersionAndConnectionHeader) {
  EXPECT_TRUE(parse_request_head("GET / HTTP/1.1\r\n\r\n").wants_keep_alive());
  EXPECT_FALSE(
      parse_request_head("GET / HTTP/1.1\r\nConnection: close\r\n\r\n").wants_keep_alive());
  EXPECT_FALSE(
      parse_request_head("GET / HTTP/1.1\r\nConnection: TE, Close\r\n\r\n").wants_keep_alive());
  EXPECT_FALSE(parse_request_head("GET / HTTP/1.0\r\n\r\n").wants_keep_alive());
  EXPECT_TRUE(
      parse_request_head("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").wants_keep_alive());
}

TEST(HttpExpect, OnlyHttp11Continue) {
  EXPECT_TRUE(
      parse_request_head("POST / HTTP/1.1\r\nExpect: 100-Continue\r\n\r\n").expects_continue());
  EXPECT_FALSE(
      parse_request_head("POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
  EXPECT_FALSE(parse_request_head("POST / HTTP/1.1\r\n\r\n").expects_continue());
}

BodyFraming framing_of(const std::string& headers) {
  return body_framing(parse_request_head("POST / HTTP/1.1\r\n" + headers + "\r\n"));
}

int framing_status(const std::string& headers) {
  try {
    framing_of(headers);
  } catch (const HttpError& e) {
    return e.status();
  }
  return 0;
}

TEST(HttpBodyFraming, ReadsLengthAndChunked) {
  EXPECT_EQ(framing_of("").kind, BodyFraming::Kind::kNone);
  const BodyFraming length = framing_of("Content-Length: 42\r\n");
  EXPECT_EQ(length.kind, BodyFraming::Kind::kLength);
  EXPECT_EQ(length.length, 42u);
  EXPECT_EQ(framing_of("Content-Length: 7, 7\r\nContent-Length: 7\r\n").length, 7u);
  EXPECT_EQ(framing_of("Transfer-Encoding: Chunked\r\n").kind, BodyFraming::Kind::kChunked);
}

TEST(HttpBodyFraming, RejectsAmbiguousOrMalformedFraming) {
  for (const std::string headers :
       {"Content-Length: -1\r\n", "Content-Length: 1x\r\n", "Content-Length: \r\n",
        "Content-Length: 0x10\r\n", "Content-Length: 99999999999999999999\r\n",
        "Content-Length: 1\r\nContent-Length: 2\r\n", "Content-Length: 1,\r\n",
        "Transfer-Encoding: gzip\r\n", "Transfer-Encoding: gzip, chunked\r\n",
        "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"})
    EXPECT_EQ(framing_status(headers), 400) << headers;
}

TEST(HttpQuery, DecodesPercentAndPlus) {
  EXPECT_EQ(percent_decode("a%20b+c%2B%e2%82%AC"), "a b c+\xe2\x82\xac");
  for (const char* bad : {"%", "%4", "%zz", "a%g1"})
    EXPECT_THROW(percent_decode(bad), HttpError) << bad;
  const auto query = parse_query("response_format=srt&prompt=hello+world&&flag&x=1&x=2");
  EXPECT_EQ(query.at("response_format"), "srt");
  EXPECT_EQ(query.at("prompt"), "hello world");
  EXPECT_EQ(query.at("flag"), "");
  EXPECT_EQ(query.at("x"), "1");
  EXPECT_TRUE(parse_query("").empty());
}

TEST(HttpResponseText, SerialisesStatusHeadersAndBody) {
  HttpResponse response = json_response(200, "{}");
  response.headers.emplace_back("Allow", "GET");
  EXPECT_EQ(serialize_response(response, true),
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
            "Connection: keep-alive\r\nAllow: GET\r\n\r\n{}");
  response.close = true;
  EXPECT_NE(serialize_response(response, true).find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(serialize_response(json_response(200, ""), false).find("Connection: close\r\n"),
            std::string::npos);
}

TEST(HttpResponseText, ErrorBodiesAreOpenAiStyleJson) {
  const HttpResponse response = error_response(413, "too big \xff");
  EXPECT_EQ(response.status, 413);
  const auto body = nlohmann::json::parse(response.body);
  EXPECT_EQ(body["error"]["type"], "request_too_large");
  EXPECT_EQ(body["error"]["code"], 413);
  EXPECT_EQ(body["error"]["message"].get<std::string>().substr(0, 7), "too big");
  EXPECT_EQ(nlohmann::json::parse(error_response(400, "x").body)["error"]["type"],
            "invalid_request_error");
  EXPECT_EQ(nlohmann::json::parse(error_response(500, "x").body)["error"]["type"], "server_error");
  EXPECT_STREQ(reason_phrase(404), "Not Found");
}

}  // namespace
}  // namespace glmasr::server
