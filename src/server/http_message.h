// HTTP requests and responses as the routes see them, independent of the socket layer (Beast
// parses and serialises; see http_server.cpp), plus query strings and OpenAI-style error bodies.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace glmasr::server {

// A request the server refuses, with the status to answer (4xx: the client's mistake).
class HttpError : public Error {
 public:
  HttpError(int status, const std::string& message);
  int status() const { return status_; }

 private:
  int status_;
};

struct HttpRequest {
  std::string method;  // "GET", case-sensitive as RFC 9110 says
  std::string target;  // as sent: "/v1/audio/transcriptions?x=1"
  std::string path;    // the target before '?'
  std::string query;   // after '?', undecoded; empty when absent
  std::vector<std::pair<std::string, std::string>> headers;  // names as sent
  std::string body;
  bool keep_alive = true;  // what the client asked for (version and Connection header)

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string> header(std::string_view name) const;
};

// A request with `target` split into path and query (the server and tests build them this way).
HttpRequest make_request(std::string method, std::string target);

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra ones (Allow, ...)
  bool close = false;  // send "Connection: close" and close after writing
};

// "%41b+c" -> "Ab c" (form encoding: '+' is a space). Throws HttpError 400 for a bad escape.
std::string percent_decode(std::string_view text);
// "a=1&b=x%20y" -> {a: "1", b: "x y"}; a repeated key keeps its first value.
std::map<std::string, std::string> parse_query(std::string_view query);

// "invalid_request_error" (4xx), "not_found_error" (404), "server_error" (5xx), ...
const char* error_type(int status);
// {"error": {"message", "type": error_type(status), "param", "code"}}: the OpenAI error body.
// `param` names the offending request field and `code` is a short machine-readable reason;
// each is null when empty.
HttpResponse error_response(int status, const std::string& message, const std::string& param = "",
                            const std::string& code = "");
HttpResponse json_response(int status, std::string json_text);

}  // namespace glmasr::server
