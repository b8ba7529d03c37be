#include "server/cors.h"

#include <algorithm>

namespace glmasr::server {

namespace {

std::string trimmed(const std::string& text) {
  const size_t first = text.find_first_not_of(" \t");
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(" \t") - first + 1);
}

}  // namespace

CorsPolicy CorsPolicy::parse(const std::string& allowed_origins) {
  CorsPolicy policy;
  size_t start = 0;
  for (;;) {
    const size_t comma = allowed_origins.find(',', start);
    const std::string origin = trimmed(allowed_origins.substr(start, comma - start));
    if (origin == "*") {
      policy.any_ = true;
    } else {
      const size_t scheme_end = origin.find("://");
      if (scheme_end == std::string::npos || scheme_end == 0 || scheme_end + 3 == origin.size() ||
          origin.back() == '/')
        fail_input("--allowed-origins: '", origin,
                   "' is not an origin: expected * or scheme://host[:port], comma-separated");
      policy.origins_.push_back(origin);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return policy;
}

bool CorsPolicy::allows(const std::string& origin) const {
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

void CorsPolicy::decorate(const HttpRequest& request, HttpResponse& response) const {
  const auto origin = request.header("Origin");
  if (!origin || !allows(*origin)) return;
  response.headers.emplace_back("Access-Control-Allow-Origin", any_ ? "*" : *origin);
  if (!any_) response.headers.emplace_back("Vary", "Origin");
}

std::optional<HttpResponse> CorsPolicy::preflight(const HttpRequest& request) const {
  if (request.method != "OPTIONS" || !request.header("Origin") ||
      !request.header("Access-Control-Request-Method") || !allows(*request.header("Origin")))
    return std::nullopt;
  HttpResponse response;
  response.status = 204;
  response.content_type = "text/plain";
  response.headers = {
      {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
      {"Access-Control-Allow-Headers",
       request.header("Access-Control-Request-Headers").value_or("Authorization, Content-Type")},
      {"Access-Control-Max-Age", "600"}};
  decorate(request, response);
  return response;
}

}  // namespace glmasr::server
