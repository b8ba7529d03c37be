// HTTP/1.1 messages as the server sees them: the request head parser (a pure function over the
// bytes up to the blank line), body framing, query strings, and response serialisation.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace glmasr::server {

// A request the server refuses, with the status to answer. `type` is the OpenAI-style error
// type ("invalid_request_error", ...) that the JSON error body carries.
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& message);
  int status() const { return status_; }

 private:
  int status_;
};

struct HttpRequest {
  std::string method;     // "GET", case-sensitive as RFC 9110 says
  std::string target;     // as sent: "/v1/audio/transcriptions?x=1"
  std::string path;       // the target before '?'
  std::string query;      // after '?', undecoded; empty when absent
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent, values trimmed
  std::string body;

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
  // Every value of the headers named `name`, in order.
  std::vector<std::string> header_values(std::string_view name) const;
  // HTTP/1.1 keeps the connection unless "Connection: close"; HTTP/1.0 only with "keep-alive".
  bool wants_keep_alive() const;
  // "Expect: 100-continue" on an HTTP/1.1 request.
  bool expects_continue() const;
};

// The size of the head (request line + headers + blank line) at the start of `bytes`, or nullopt
// when the blank line has not arrived yet. Lines may end in CRLF or a bare LF.
std::optional<size_t> find_head_end(std::string_view bytes);

// Parses a request head (everything up to and including the blank line). Throws HttpError 400
// naming what is malformed, 505 for an HTTP version other than 1.0/1.1.
HttpRequest parse_request_head(std::string_view head);

// How the body of a request is delimited.
struct BodyFraming {
  enum class Kind { kNone, kLength, kChunked };
  Kind kind = Kind::kNone;
  size_t length = 0;  // for kLength
};
// From Transfer-Encoding / Content-Length. Throws HttpError 400 for a malformed or conflicting
// Content-Length, an unsupported transfer coding, or both headers at once (request smuggling).
BodyFraming body_framing(const HttpRequest& request);

// "%41b+c" -> "Ab c" (form encoding: '+' is a space). Throws HttpError 400 for a bad escape.
std::string percent_decode(std::string_view text);
// "a=1&b=x%20y" -> {a: "1", b: "x y"}; a repeated key keeps its first value.
std::map<std::string, std::string> parse_query(std::string_view query);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones (Allow, ...)
  bool close = false;  // send "Connection: close" and close after writing
};

// "OK", "Not Found", ...; "Unknown" for codes this server never sends.
const char* reason_phrase(int status);
// "invalid_request_error" (4xx), "not_found_error" (404), "server_error" (5xx), ...
const char* error_type(int status);
// {"error": {"message": ..., "type": error_type(status), "code": status}} as a JSON response.
HttpResponse error_response(int status, const std::string& message);
HttpResponse json_response(int status, const std::string& json_text);

// Status line, Content-Type, Content-Length, Connection, extra headers, blank line, body.
std::string serialize_response(const HttpResponse& response, bool keep_alive);

}  // namespace glmasr::server
