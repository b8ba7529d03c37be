// multipart/form-data parsing with the shapes real clients send and with broken bodies.
#include <gtest/gtest.h>

#include "server/http_message.h"
#include "server/multipart.h"

namespace glmasr::server {
namespace {

const std::string kBoundary = "----glmasrBoundary7MA4YWxk";

std::string part(const std::string& headers, const std::string& data) {
  return "--" + kBoundary + "\r\n" + headers + "\r\n" + data + "\r\n";
}

TEST(HeaderValueParse, ReadsTokensAndQuotedParameters) {
  const HeaderValue value =
      parse_header_value("Form-Data; name=\"file\"; filename=\"a \\\"b\\\"; c.wav\";X=y ;");
  EXPECT_EQ(value.value, "form-data");
  EXPECT_EQ(value.params.at("name"), "file");
  EXPECT_EQ(value.params.at("filename"), "a \"b\"; c.wav");
  EXPECT_EQ(value.params.at("x"), "y");
  EXPECT_TRUE(parse_header_value("text/plain").params.empty());
}

TEST(HeaderValueParse, RejectsBrokenParameters) {
  for (const char* text : {"a; b", "a; =x", "a; name=\"open", "a; name=\"x\"y"})
    EXPECT_THROW(parse_header_value(text), HttpError) << text;
}

TEST(MultipartBoundary, FromContentType) {
  EXPECT_EQ(multipart_boundary("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_boundary("Multipart/Form-Data; boundary=\"a b:c\""), "a b:c");
  for (const std::string& type : std::vector<std::string>{
           "multipart/mixed; boundary=a", "multipart/form-data", "multipart/form-data; boundary=",
           "multipart/form-data; boundary=" + std::string(71, 'x'), "text/plain"})
    EXPECT_THROW(multipart_boundary(type), HttpError) << type;
}

TEST(MultipartParse, SplitsFieldsAndFiles) {
  const std::string data("RIFF\0\r\n--not-the-boundary\r\n\xff", 29);
  const std::string body =
      part(
          "Content-Disposition: form-data; name=\"file\"; filename=\"jfk.wav\"\r\n"
          "Content-Type: audio/wav\r\n",
          data) +
      part("content-disposition: form-data; name=\"response_format\"\r\n", "srt") +
      part("Content-Disposition: form-data; name=\"prompt\"\r\n", "") + "--" + kBoundary +
      "--\r\nepilogue";
  const auto parts = parse_multipart(body, kBoundary);
  ASSERT_EQ(parts.size(), 3u);
  EXPECT_EQ(parts[0].name, "file");
  EXPECT_EQ(parts[0].filename, "jfk.wav");
  EXPECT_EQ(parts[0].content_type, "audio/wav");
  EXPECT_EQ(parts[0].data, data);
  EXPECT_EQ(parts[1].name, "response_format");
  EXPECT_FALSE(parts[1].filename);
  EXPECT_EQ(parts[1].data, "srt");
  EXPECT_EQ(parts[2].data, "");
  EXPECT_EQ(find_part(parts, "prompt"), &parts[2]);
  EXPECT_EQ(find_part(parts, "model"), nullptr);
}

TEST(MultipartParse, AcceptsPreambleAndTransportPadding) {
  const std::string body = "preamble text\r\n--" + kBoundary + "  \r\n" +
                           "Content-Disposition: form-data; name=a\r\n\r\nx\r\n--" + kBoundary +
                           "--";
  const auto parts = parse_multipart(body, kBoundary);
  ASSERT_EQ(parts.size(), 1u);
  EXPECT_EQ(parts[0].name, "a");
  EXPECT_EQ(parts[0].data, "x");
}

TEST(MultipartParse, EmptyFormHasNoParts) {
  EXPECT_TRUE(parse_multipart("--" + kBoundary + "--\r\n", kBoundary).empty());
}

std::string error_of(const std::string& body) {
  try {
    parse_multipart(body, kBoundary);
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 400);
    return e.what();
  }
  return "";
}

TEST(MultipartParse, RejectsBrokenBodiesNamingTheProblem) {
  const std::string disposition = "Content-Disposition: form-data; name=\"a\"\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "does not contain its boundary"},
      {"no boundary here", "does not contain its boundary"},
      {"--" + kBoundary, "ends without its closing boundary"},
      {part(disposition, "x"), "ends without its closing boundary"},
      {"--" + kBoundary + "\r\n" + disposition + "\r\nunterminated data",
       "ends without its closing boundary"},
      {"--" + kBoundary + "garbage\r\n", "expected CRLF after the boundary"},
      {"--" + kBoundary + "\r\n" + disposition + "no blank line", "do not end with a blank line"},
      {part("Content-Type: text/plain\r\n", "x") + "--" + kBoundary + "--",
       "has no Content-Disposition"},
      {part("", "x") + "--" + kBoundary + "--", "has no Content-Disposition"},
      {part("Content-Disposition: attachment; name=a\r\n", "x") + "--" + kBoundary + "--",
       "expected Content-Disposition form-data"},
      {part("Content-Disposition: form-data; filename=a\r\n", "x") + "--" + kBoundary + "--",
       "expected Content-Disposition form-data"},
      {part("Broken header line\r\n", "x") + "--" + kBoundary + "--", "malformed header line"},
  };
  for (const auto& [body, expected] : cases)
    EXPECT_NE(error_of(body).find(expected), std::string::npos)
        << "body: " << body << "\nerror: " << error_of(body);
}

}  // namespace
}  // namespace glmasr::server
