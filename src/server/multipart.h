// multipart/form-data (RFC 7578) as OpenAI-style upload clients send it, and the header
// parameter syntax it relies on. Pure functions over bytes already received.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr::server {

// A header value of the form `token; key=value; key="quoted \"value\""`.
struct HeaderValue {
  std::string value;                          // the part before the first ';', lower-cased
  std::map<std::string, std::string> params;  // keys lower-cased, quotes and escapes removed
};
// Throws HttpError 400 naming the header text when a parameter is malformed.
HeaderValue parse_header_value(std::string_view text);

struct FormPart {
  std::string name;                     // Content-Disposition name
  std::optional<std::string> filename;  // Content-Disposition filename, when a file
  std::string content_type;             // the part's Content-Type, empty when absent
  std::string data;
};

// The boundary of a "multipart/form-data; boundary=..." Content-Type. Throws HttpError 400
// when the type is different or the boundary is missing or longer than 70 characters.
std::string multipart_boundary(std::string_view content_type);

// Splits a multipart body into its parts, in order. Throws HttpError 400 naming what is wrong:
// no opening boundary, a part without headers or a form-data Content-Disposition, or a body
// that ends before the closing boundary.
std::vector<FormPart> parse_multipart(std::string_view body, std::string_view boundary);

// The first part named `name`, or nullptr.
const FormPart* find_part(const std::vector<FormPart>& parts, std::string_view name);

}  // namespace glmasr::server
