// Shared by the libFuzzer targets: what counts as a finding besides a crash or a sanitizer
// report (an exception other than glmasr::Error, a broken invariant), and inputs presented as
// files without touching the disk.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>

#include "core/error.h"

namespace glmasr::fuzz {

[[noreturn]] inline void violated(const char* target, const std::string& what) {
  std::fprintf(stderr, "%s: invariant violated: %s\n", target, what.c_str());
  std::abort();
}

// Runs `body`; rejected input (glmasr::Error) is fine, any other exception is a finding.
template <typename Body>
void expect_only_glmasr_errors(const char* target, Body&& body) {
  try {
    body();
  } catch (const glmasr::Error&) {
  } catch (const std::exception& e) {
    violated(target, std::string("non-glmasr exception escaped: ") + e.what());
  }
}

// An exactly-sized heap copy, so that AddressSanitizer sees a read one byte past the input
// (libFuzzer's own buffer is exact too, but targets slice it).
inline std::unique_ptr<char[]> exact_copy(const uint8_t* data, size_t size) {
  std::unique_ptr<char[]> copy(new char[size ? size : 1]);
  if (size) std::copy(data, data + size, copy.get());
  return copy;
}

// A memory-backed file holding `size` bytes, reused across inputs; returns a path to it.
class MemFile {
 public:
  explicit MemFile(const char* name) : fd_(memfd_create(name, 0)) {
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
  }
  std::string write(const uint8_t* data, size_t size) const {
    if (ftruncate(fd_, 0) != 0 ||
        (size && pwrite(fd_, data, size, 0) != static_cast<ssize_t>(size))) {
      std::perror("memfd write");
      std::abort();
    }
    return "/proc/self/fd/" + std::to_string(fd_);
  }

 private:
  int fd_;
};

}  // namespace glmasr::fuzz
