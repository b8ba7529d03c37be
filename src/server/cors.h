// Cross-origin access for browser clients (--allowed-origins): which origins may call the API,
// the headers that say so on each response, and the answer to a preflight OPTIONS request.
// Not configured: no CORS headers at all, and OPTIONS is an unknown method like any other.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/http_message.h"

namespace glmasr::server {

class CorsPolicy {
 public:
  CorsPolicy() = default;  // no origin allowed
  // "*" or a comma-separated list of origins ("https://a.example, http://localhost:3000").
  // Throws glmasr::InputError for an empty entry or one that is not scheme://host[:port].
  static CorsPolicy parse(const std::string& allowed_origins);

  bool enabled() const { return any_ || !origins_.empty(); }
  bool allows(const std::string& origin) const;

  // Adds Access-Control-Allow-Origin (and Vary: Origin) when `request` comes from an allowed
  // origin; otherwise leaves `response` as it is.
  void decorate(const HttpRequest& request, HttpResponse& response) const;
  // A preflight (OPTIONS with Origin and Access-Control-Request-Method) from an allowed origin:
  // the 204 that permits it. nullopt when this is not such a request.
  std::optional<HttpResponse> preflight(const HttpRequest& request) const;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace glmasr::server
