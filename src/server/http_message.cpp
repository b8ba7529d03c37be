#include "server/http_message.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace glmasr::server {

namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

// The printable form of a fragment of a bad request, short enough for an error message.
std::string quoted(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 80)) {
    const auto byte = static_cast<unsigned char>(c);
    out += (byte >= 0x20 && byte < 0x7f) ? c : '?';
  }
  return "'" + out + (text.size() > 80 ? "...'" : "'");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

nlohmann::json null_if_empty(const std::string& text) {
  return text.empty() ? nlohmann::json(nullptr) : nlohmann::json(text);
}

}  // namespace

HttpError::HttpError(int status, const std::string& message) : Error(message), status_(status) {}

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

HttpRequest make_request(std::string method, std::string target) {
  HttpRequest request;
  request.method = std::move(method);
  request.target = std::move(target);
  const size_t question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) request.query = request.target.substr(question + 1);
  return request;
}

std::string percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+') {
      out += ' ';
    } else if (text[i] == '%') {
      const int high = i + 2 < text.size() ? hex_value(text[i + 1]) : -1;
      const int low = i + 2 < text.size() ? hex_value(text[i + 2]) : -1;
      if (high < 0 || low < 0)
        throw HttpError(400, cat("malformed percent escape in ", quoted(text),
                                 ": expected % and two hex digits"));
      out += static_cast<char>(high * 16 + low);
      i += 2;
    } else {
      out += text[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view query) {
  std::map<std::string, std::string> values;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (!pair.empty()) {
      const size_t eq = pair.find('=');
      const std::string key = percent_decode(pair.substr(0, eq));
      const std::string value =
          eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
      values.emplace(key, value);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return values;
}

const char* error_type(int status) {
  if (status == 404) return "not_found_error";
  if (status == 405) return "method_not_allowed";
  if (status == 413) return "request_too_large";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

HttpResponse json_response(int status, std::string json_text) {
  HttpResponse response;
  response.status = status;
  response.body = std::move(json_text);
  return response;
}

HttpResponse error_response(int status, const std::string& message, const std::string& param,
                            const std::string& code) {
  const nlohmann::json body = {{"error",
                                {{"message", message},
                                 {"type", error_type(status)},
                                 {"param", null_if_empty(param)},
                                 {"code", null_if_empty(code)}}}};
  // Messages may quote client bytes that are not UTF-8; replace rather than throw.
  return json_response(status,
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

}  // namespace glmasr::server
