// The exception types of glmasr and the check macro that throws the common one.
//
// Library code never exits or aborts: it throws glmasr::Error with a message of the form
// "<what>: expected X, got Y", and the CLI/server catch it at the request boundary.
// InputError is an Error the caller caused (bad audio, a bad option): the server answers it
// with a 4xx. DeviceError is deliberately NOT an Error: a CUDA fault may poison the context for
// every request, so the per-request `catch (const Error&)` blocks must let it through to the
// process boundary (the CLI exits, the server marks itself not ready and exits non-zero).
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

class InputError : public Error {
 public:
  using Error::Error;
};

class DeviceError : public std::runtime_error {
 public:
  explicit DeviceError(const std::string& message) : std::runtime_error(message) {}
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

template <typename... Parts>
[[noreturn]] void fail_input(Parts&&... parts) {
  throw InputError(cat(std::forward<Parts>(parts)...));
}

}  // namespace glmasr

// GLMASR_CHECK(cond, parts...) throws glmasr::Error(cat(parts...)) when cond is false.
#define GLMASR_CHECK(cond, ...)               \
  do {                                        \
    if (!(cond)) ::glmasr::fail(__VA_ARGS__); \
  } while (0)
