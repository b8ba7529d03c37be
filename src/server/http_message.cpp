#include "server/http_message.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

namespace glmasr::server {

namespace {

constexpr size_t kMaxHeaders = 100;

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// RFC 9110 token characters: what method and header names may contain.
bool is_token_char(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), is_token_char);
}

std::string_view trim_ows(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// Splits the head into lines without their CRLF/LF; the final empty line is dropped.
std::vector<std::string_view> head_lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t lf = head.find('\n');
    std::string_view line = head.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (lf == std::string_view::npos) break;
    head.remove_prefix(lf + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
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

void parse_request_line(std::string_view line, HttpRequest& request) {
  const size_t first_space = line.find(' ');
  const size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space)
    throw HttpError(
        400, cat("malformed request line ", quoted(line), ": expected 'METHOD TARGET HTTP/1.1'"));
  const std::string_view method = line.substr(0, first_space);
  const std::string_view target = line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = line.substr(last_space + 1);
  if (!is_token(method)) throw HttpError(400, cat("malformed method ", quoted(method)));
  if (target.empty() || target.front() != '/' ||
      std::any_of(target.begin(), target.end(),
                  [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
    throw HttpError(400, cat("malformed request target ", quoted(target),
                             ": expected a path starting with '/'"));
  if (version.size() != 8 || version.substr(0, 5) != "HTTP/" || version[6] != '.' ||
      !std::isdigit(static_cast<unsigned char>(version[5])) ||
      !std::isdigit(static_cast<unsigned char>(version[7])))
    throw HttpError(
        400, cat("malformed HTTP version ", quoted(version), ": expected HTTP/1.0 or HTTP/1.1"));
  if (version[5] != '1' || (version[7] != '0' && version[7] != '1'))
    throw HttpError(
        505, cat("unsupported HTTP version ", quoted(version), ": expected HTTP/1.0 or HTTP/1.1"));
  request.method = std::string(method);
  request.target = std::string(target);
  request.version_minor = version[7] - '0';
  const size_t question = target.find('?');
  request.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

HttpError::HttpError(int status, const std::string& message) : Error(message), status_(status) {}

std::optional<std::string> HttpRequest::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) return value;
  return std::nullopt;
}

std::vector<std::string> HttpRequest::header_values(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers)
    if (iequals(key, name)) values.push_back(value);
  return values;
}

bool HttpRequest::wants_keep_alive() const {
  bool close = false, keep_alive = false;
  for (const std::string& value : header_values("Connection")) {
    // A comma-separated list of options; only these two matter here.
    size_t start = 0;
    while (start <= value.size()) {
      const size_t comma = std::min(value.find(',', start), value.size());
      const std::string option =
          lower(trim_ows(std::string_view(value).substr(start, comma - start)));
      close |= option == "close";
      keep_alive |= option == "keep-alive";
      start = comma + 1;
    }
  }
  if (close) return false;
  return version_minor >= 1 || keep_alive;
}

bool HttpRequest::expects_continue() const {
  const auto expect = header("Expect");
  return version_minor >= 1 && expect && iequals(*expect, "100-continue");
}

std::optional<size_t> find_head_end(std::string_view bytes) {
  // The blank line is "\n\r\n" or "\n\n" after the last header (or the request line).
  for (size_t i = bytes.find('\n'); i != std::string_view::npos; i = bytes.find('\n', i + 1)) {
    if (i + 1 < bytes.size() && bytes[i + 1] == '\n') return i + 2;
    if (i + 2 < bytes.size() && bytes[i + 1] == '\r' && bytes[i + 2] == '\n') return i + 3;
  }
  return std::nullopt;
}

HttpRequest parse_request_head(std::string_view head) {
  // RFC 9112 lets a server ignore empty lines before the request line.
  while (!head.empty() && (head.front() == '\r' || head.front() == '\n')) head.remove_prefix(1);
  const std::vector<std::string_view> lines = head_lines(head);
  if (lines.empty()) throw HttpError(400, "empty request: expected a request line");
  HttpRequest request;
  parse_request_line(lines[0], request);
  if (lines.size() - 1 > kMaxHeaders)
    throw HttpError(431, cat("too many header fields: expected at most ", kMaxHeaders, ", got ",
                             lines.size() - 1));
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t')
      throw HttpError(400, cat("obsolete folded header line ", quoted(line), " is not accepted"));
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      throw HttpError(400, cat("malformed header line ", quoted(line), ": expected 'Name: value'"));
    const std::string_view name = line.substr(0, colon);
    if (!is_token(name)) throw HttpError(400, cat("malformed header name ", quoted(name)));
    const std::string_view value = trim_ows(line.substr(colon + 1));
    if (std::any_of(value.begin(), value.end(), [](char c) { return c == '\0' || c == '\r'; }))
      throw HttpError(400, cat("header ", quoted(name), " holds a NUL or CR character"));
    request.headers.emplace_back(std::string(name), std::string(value));
  }
  return request;
}

BodyFraming body_framing(const HttpRequest& request) {
  const std::vector<std::string> encodings = request.header_values("Transfer-Encoding");
  const std::vector<std::string> lengths = request.header_values("Content-Length");
  BodyFraming framing;
  if (!encodings.empty()) {
    if (!lengths.empty())
      throw HttpError(400, "both Transfer-Encoding and Content-Length given: expected one");
    if (encodings.size() != 1 || !iequals(trim_ows(encodings[0]), "chunked"))
      throw HttpError(400, cat("unsupported Transfer-Encoding ", quoted(encodings.back()),
                               ": expected 'chunked'"));
    framing.kind = BodyFraming::Kind::kChunked;
    return framing;
  }
  if (lengths.empty()) return framing;
  std::optional<size_t> length;
  for (const std::string& text : lengths) {
    // "Content-Length: 5, 5" and repeated equal headers are both legal; digits only.
    size_t start = 0;
    while (start <= text.size()) {
      const size_t comma = std::min(text.find(',', start), text.size());
      const std::string_view item = trim_ows(std::string_view(text).substr(start, comma - start));
      if (item.empty() || item.size() > 18 || !std::all_of(item.begin(), item.end(), [](char c) {
            return std::isdigit(static_cast<unsigned char>(c));
          }))
        throw HttpError(
            400, cat("malformed Content-Length ", quoted(text), ": expected a decimal byte count"));
      const size_t value = std::stoull(std::string(item));
      if (length && *length != value)
        throw HttpError(400, cat("conflicting Content-Length values ", *length, " and ", value));
      length = value;
      start = comma + 1;
    }
  }
  framing.kind = BodyFraming::Kind::kLength;
  framing.length = *length;
  return framing;
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
      if (i + 2 >= text.size() || high < 0 || low < 0)
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

const char* reason_phrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

const char* error_type(int status) {
  if (status == 404) return "not_found_error";
  if (status == 405) return "method_not_allowed";
  if (status == 413) return "request_too_large";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

HttpResponse json_response(int status, const std::string& json_text) {
  HttpResponse response;
  response.status = status;
  response.body = json_text;
  return response;
}

HttpResponse error_response(int status, const std::string& message) {
  const nlohmann::json body = {
      {"error", {{"message", message}, {"type", error_type(status)}, {"code", status}}}};
  // Messages may quote client bytes that are not UTF-8; replace rather than throw.
  return json_response(status,
                       body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");
}

std::string serialize_response(const HttpResponse& response, bool keep_alive) {
  std::string out = cat("HTTP/1.1 ", response.status, " ", reason_phrase(response.status), "\r\n");
  out += "Content-Type: " + response.content_type + "\r\n";
  out += cat("Content-Length: ", response.body.size(), "\r\n");
  out += keep_alive && !response.close ? "Connection: keep-alive\r\n" : "Connection: close\r\n";
  for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
  out += "\r\n";
  out += response.body;
  return out;
}

}  // namespace glmasr::server
