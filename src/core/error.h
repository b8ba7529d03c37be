// The one exception type of glmasr and the check macro that throws it.
//
// Library code never exits or aborts: it throws glmasr::Error with a message of the form
// "<what>: expected X, got Y", and the CLI/server catch it at the request boundary.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>

namespace glmasr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Concatenates any streamable values into one string: cat("expected ", 3, " got ", 4).
template <typename... Parts>
std::string cat(Parts&&... parts) {
  std::ostringstream out;
  (out << ... << std::forward<Parts>(parts));
  return out.str();
}

template <typename... Parts>
[[noreturn]] void fail(Parts&&... parts) {
  throw Error(cat(std::forward<Parts>(parts)...));
}

}  // namespace glmasr

// GLMASR_CHECK(cond, parts...) throws glmasr::Error(cat(parts...)) when cond is false.
#define GLMASR_CHECK(cond, ...)               \
  do {                                        \
    if (!(cond)) ::glmasr::fail(__VA_ARGS__); \
  } while (0)
