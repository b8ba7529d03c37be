// A small libcurl wrapper for the hub client: GET with redirects, extra headers, an optional
// Range start, and the body streamed to a callback. HTTP and HTTPS only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/error.h"

namespace glmasr {

// A failed transfer (no complete HTTP response). transient: worth retrying (connection refused
// or reset, timeout, transfer cut off, TLS handshake failure).
class HttpError : public Error {
 public:
  HttpError(const std::string& message, bool transient) : Error(message), transient_(transient) {}
  bool transient() const { return transient_; }

 private:
  bool transient_;
};

using HttpHeaders = std::map<std::string, std::string>;  // lower-case names

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  int64_t range_start = 0;           // > 0 sends "Range: bytes=N-"
  long connect_timeout_seconds = 30;
  // A transfer slower than 1 byte/s for this long is abandoned as stalled.
  long stall_timeout_seconds = 60;
  // Called once, before the first body byte of the final response (after redirects); true
  // streams the body to on_body, false collects it into HttpResponse::error_body instead.
  std::function<bool(long status, const HttpHeaders& headers)> on_body_start;
  // Receives body bytes; returning false aborts the transfer (HttpError, not transient).
  std::function<bool(const char* data, size_t size)> on_body;
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;     // of the final response
  std::string error_body;  // first few KB of a body that on_body_start declined
  std::string url;         // after redirects
};

// Performs the request; throws HttpError when no complete response arrived.
HttpResponse http_perform(const HttpRequest& request);

// GET into a string; the status is the caller's to check.
HttpResponse http_get_text(const std::string& url, const std::vector<std::string>& headers,
                           std::string& body);

// "rel=next" target of an RFC 8288 Link header, or empty.
std::string link_next_url(const std::string& link_header);

}  // namespace glmasr
