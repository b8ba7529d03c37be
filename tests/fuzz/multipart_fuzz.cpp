// libFuzzer target for the multipart/form-data parser (server/multipart.h, public API only).
// Input: a Content-Type header value, a newline, then the body. Drives parse_header_value on
// the header, multipart_boundary on it and parse_multipart on the body with what it returns,
// and parse_multipart on the whole input with a fixed boundary (so mutations of a body reach
// the part parser even when the header line is broken).
#include <algorithm>
#include <cstdint>
#include <string_view>

#include "fuzz_util.h"
#include "server/multipart.h"

namespace {

constexpr const char* kTarget = "multipart_fuzz";

// Every part's bytes come from the body, and find_part agrees with a linear search.
void check_parts(const std::vector<glmasr::server::FormPart>& parts, std::string_view body) {
  size_t total = 0;
  for (const auto& part : parts) {
    total += part.data.size() + part.name.size();
    if (part.data.size() > body.size()) glmasr::fuzz::violated(kTarget, "part larger than body");
    if (!part.data.empty() && body.find(part.data) == std::string_view::npos)
      glmasr::fuzz::violated(kTarget, "part data not found in the body");
  }
  if (total > body.size()) glmasr::fuzz::violated(kTarget, "parts hold more than the body");
  for (const auto& part : parts) {
    const auto* found = glmasr::server::find_part(parts, part.name);
    const auto first = std::find_if(parts.begin(), parts.end(),
                                    [&](const auto& p) { return p.name == part.name; });
    if (found != &*first) glmasr::fuzz::violated(kTarget, "find_part is not the first match");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto copy = glmasr::fuzz::exact_copy(data, size);
  const std::string_view input(copy.get(), size);
  const size_t newline = input.find('\n');
  const std::string_view header = input.substr(0, newline);
  const std::string_view body =
      newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);
  glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
    const auto value = glmasr::server::parse_header_value(header);
    if (value.value.size() > header.size()) glmasr::fuzz::violated(kTarget, "value too long");
  });
  glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
    const std::string boundary = glmasr::server::multipart_boundary(header);
    if (boundary.empty() || boundary.size() > 70)
      glmasr::fuzz::violated(kTarget, "boundary of 1..70 characters expected");
    check_parts(glmasr::server::parse_multipart(body, boundary), body);
  });
  glmasr::fuzz::expect_only_glmasr_errors(
      kTarget, [&] { check_parts(glmasr::server::parse_multipart(input, "XyZzy"), input); });
  return 0;
}
