#include "server/multipart.h"

#include <algorithm>
#include <cctype>

#include "core/error.h"
#include "core/strings.h"
#include "server/http_message.h"

namespace glmasr::server {

namespace {

constexpr size_t kMaxPartHeadBytes = 16 * 1024;

std::string excerpt(std::string_view text) {
  std::string out;
  for (char c : text.substr(0, 60)) out += std::isprint(static_cast<unsigned char>(c)) ? c : '?';
  return "'" + out + (text.size() > 60 ? "...'" : "'");
}

// One `key=value` or `key="quoted"` at the start of `rest`; advances `rest` past it.
std::pair<std::string, std::string> parse_param(std::string_view& rest, std::string_view whole) {
  const size_t eq = rest.find('=');
  if (eq == std::string_view::npos)
    throw HttpError(
        400, cat("malformed parameter in header value ", excerpt(whole), ": expected key=value"));
  const std::string key = ascii_lower(trim(rest.substr(0, eq)));
  if (key.empty())
    throw HttpError(400, cat("malformed parameter in header value ", excerpt(whole),
                             ": empty name before '='"));
  rest.remove_prefix(eq + 1);
  rest = trim(rest);
  std::string value;
  if (!rest.empty() && rest.front() == '"') {
    size_t i = 1;
    for (; i < rest.size() && rest[i] != '"'; ++i) {
      if (rest[i] == '\\' && i + 1 < rest.size()) ++i;
      value += rest[i];
    }
    if (i >= rest.size())
      throw HttpError(400, cat("unterminated quoted string in header value ", excerpt(whole)));
    rest.remove_prefix(i + 1);
    rest = trim(rest);
    if (!rest.empty() && rest.front() != ';')
      throw HttpError(400, cat("malformed parameter in header value ", excerpt(whole),
                               ": expected ';' after a quoted string"));
  } else {
    const size_t semicolon = rest.find(';');
    value = std::string(trim(rest.substr(0, semicolon)));
    rest.remove_prefix(semicolon == std::string_view::npos ? rest.size() : semicolon);
  }
  return {key, value};
}

// The headers of one part: lines up to the blank line. Returns name -> value (lower-case names).
std::map<std::string, std::string> parse_part_headers(std::string_view head, size_t index) {
  std::map<std::string, std::string> headers;
  while (!head.empty()) {
    const size_t eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 2);
    if (line.empty()) continue;
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos)
      throw HttpError(400, cat("multipart part ", index, ": malformed header line ", excerpt(line),
                               ": expected 'Name: value'"));
    headers.emplace(ascii_lower(trim(line.substr(0, colon))),
                    std::string(trim(line.substr(colon + 1))));
  }
  return headers;
}

}  // namespace

HeaderValue parse_header_value(std::string_view text) {
  HeaderValue result;
  const size_t semicolon = text.find(';');
  result.value = ascii_lower(trim(text.substr(0, semicolon)));
  std::string_view rest =
      semicolon == std::string_view::npos ? std::string_view() : text.substr(semicolon);
  while (!rest.empty()) {
    rest.remove_prefix(1);  // the ';'
    rest = trim(rest);
    if (rest.empty()) break;  // a trailing ';' is tolerated
    if (rest.front() == ';') continue;
    auto [key, value] = parse_param(rest, text);
    result.params.emplace(std::move(key), std::move(value));
  }
  return result;
}

std::string multipart_boundary(std::string_view content_type) {
  const HeaderValue parsed = parse_header_value(content_type);
  if (parsed.value != "multipart/form-data")
    throw HttpError(400,
                    cat("expected Content-Type multipart/form-data, got ", excerpt(content_type)));
  const auto it = parsed.params.find("boundary");
  if (it == parsed.params.end() || it->second.empty())
    throw HttpError(400, "multipart/form-data Content-Type has no boundary parameter");
  if (it->second.size() > 70)
    throw HttpError(400, cat("multipart boundary is ", it->second.size(),
                             " characters long: expected at most 70"));
  return it->second;
}

std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary) {
  const std::string delimiter = "--" + std::string(boundary);
  // The first delimiter opens the body, possibly after a preamble that ends in CRLF.
  size_t position;
  if (body.substr(0, delimiter.size()) == delimiter) {
    position = delimiter.size();
  } else {
    const size_t found = body.find("\r\n" + delimiter);
    if (found == std::string_view::npos)
      throw HttpError(400, cat("multipart body does not contain its boundary '", boundary, "'"));
    position = found + 2 + delimiter.size();
  }
  const std::string next_delimiter = "\r\n" + delimiter;
  std::vector<FormPart> parts;
  for (;;) {
    std::string_view rest = body.substr(position);
    if (rest.substr(0, 2) == "--") return parts;  // the closing delimiter; epilogue ignored
    // Transport padding (spaces or tabs) may follow a delimiter before its CRLF.
    while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
    if (rest.substr(0, 2) != "\r\n")
      throw HttpError(400, rest.empty() ? std::string("multipart body ends without its closing "
                                                      "boundary")
                                        : cat("multipart part ", parts.size(),
                                              ": expected CRLF after the boundary, got ",
                                              excerpt(rest.substr(0, 10))));
    rest.remove_prefix(2);
    const size_t head_end = rest.find("\r\n\r\n");
    const bool no_headers = rest.substr(0, 2) == "\r\n";
    if (!no_headers && (head_end == std::string_view::npos || head_end > kMaxPartHeadBytes))
      throw HttpError(
          400, cat("multipart part ", parts.size(), ": headers do not end with a blank line"));
    const std::string_view head = no_headers ? std::string_view() : rest.substr(0, head_end);
    rest.remove_prefix(no_headers ? 2 : head_end + 4);
    const size_t data_end = rest.find(next_delimiter);
    if (data_end == std::string_view::npos)
      throw HttpError(400, "multipart body ends without its closing boundary");

    const auto headers = parse_part_headers(head, parts.size());
    const auto disposition = headers.find("content-disposition");
    if (disposition == headers.end())
      throw HttpError(400, cat("multipart part ", parts.size(), " has no Content-Disposition"));
    const HeaderValue parsed = parse_header_value(disposition->second);
    const auto name = parsed.params.find("name");
    if (parsed.value != "form-data" || name == parsed.params.end())
      throw HttpError(400, cat("multipart part ", parts.size(),
                               ": expected Content-Disposition "
                               "form-data with a name, got ",
                               excerpt(disposition->second)));
    FormPart part;
    part.name = name->second;
    if (const auto filename = parsed.params.find("filename"); filename != parsed.params.end())
      part.filename = filename->second;
    if (const auto type = headers.find("content-type"); type != headers.end())
      part.content_type = type->second;
    part.data = std::string(rest.substr(0, data_end));
    parts.push_back(std::move(part));
    position = static_cast<size_t>(rest.data() - body.data()) + data_end + next_delimiter.size();
  }
}

const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name) {
  const auto it = std::find_if(parts.begin(), parts.end(),
                               [&](const FormPart& part) { return part.name == name; });
  return it == parts.end() ? nullptr : &*it;
}

}  // namespace glmasr::server
