// libFuzzer target for the safetensors reader. Each input is a whole file: [8-byte length]
// [JSON header][data]. It drives both entry points:
//   1. SafetensorsFile on the input (through a memfd, so the real mmap path and the length checks
//      run without touching the disk), and
//   2. parse_safetensors_header on the header bytes alone, with the data size the fuzzer chose,
//      from an exactly-sized heap copy so AddressSanitizer sees any read past the header.
// Whatever parses must satisfy the invariants the engines rely on; only glmasr::Error may escape.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include "core/error.h"
#include "io/safetensors.h"

namespace {

using glmasr::SafetensorsEntry;

[[noreturn]] void violated(const char* what, const std::string& name) {
  std::fprintf(stderr, "safetensors_fuzz: invariant violated: %s (tensor '%s')\n", what,
               name.c_str());
  std::abort();
}

// The contract of an accepted entry: a float/int dtype, non-negative extents whose product fits
// int64, and a byte range inside the data section that holds exactly numel * element bytes.
void check_entry(const std::string& name, const SafetensorsEntry& entry, uint64_t data_size) {
  if (entry.begin > entry.end) violated("begin > end", name);
  if (entry.end > data_size) violated("range past the data section", name);
  const size_t element = glmasr::dtype_size(entry.dtype);
  if (element == 0) violated("unknown dtype accepted", name);
  // Products of extents are int64 downstream; a zero extent must not hide an overflowing rest.
  __int128 numel = 1, nonzero_product = 1;
  for (int64_t extent : entry.shape) {
    if (extent < 0) violated("negative extent", name);
    numel *= extent;
    if (extent) nonzero_product *= extent;
    if (nonzero_product > std::numeric_limits<int64_t>::max())
      violated("extents overflow int64", name);
  }
  if (numel * element != static_cast<__int128>(entry.end - entry.begin))
    violated("byte range does not match shape", name);
}

// Runs `body`, swallowing the errors the library is allowed to throw.
template <typename Body>
void expect_only_glmasr_errors(Body&& body) {
  try {
    body();
  } catch (const glmasr::Error&) {
    // Rejected input: fine.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "safetensors_fuzz: non-glmasr exception escaped: %s\n", e.what());
    std::abort();
  }
}

void fuzz_whole_file(const uint8_t* data, size_t size) {
  static const int fd = memfd_create("safetensors_fuzz", 0);
  if (fd < 0) {
    std::perror("memfd_create");
    std::abort();
  }
  if (ftruncate(fd, 0) != 0 || (size && pwrite(fd, data, size, 0) != static_cast<ssize_t>(size))) {
    std::perror("memfd write");
    std::abort();
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  expect_only_glmasr_errors([&] {
    const glmasr::SafetensorsFile file(path);
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, data, 8);  // accepted => size >= 8
    const uint64_t data_size = size - 8 - header_bytes;
    // Touch every byte of every view: a view reaching past the mapping faults here.
    volatile uint8_t sink = 0;
    for (const auto& [name, entry] : file.entries()) {
      check_entry(name, entry, data_size);
      const glmasr::TensorView view = file.view(name);
      if (view.nbytes != entry.end - entry.begin) violated("view size", name);
      // The view must point into the mapped input at the entry's offset: compare its bytes with
      // the input's (a wrong base pointer reads different bytes or faults).
      if (view.nbytes &&
          std::memcmp(view.data, data + 8 + header_bytes + entry.begin, view.nbytes) != 0)
        violated("view bytes differ from the file", name);
      for (size_t i = 0; i < view.nbytes; ++i) sink = sink ^ static_cast<uint8_t>(view.data[i]);
    }
  });
}

void fuzz_header(const uint8_t* data, size_t size) {
  if (size < 8) return;
  uint64_t data_size = 0;
  std::memcpy(&data_size, data, 8);
  const size_t header_size = size - 8;
  // Exactly-sized heap copy: a parser reading one byte too far trips AddressSanitizer.
  std::unique_ptr<char[]> header(new char[header_size ? header_size : 1]);
  if (header_size) std::memcpy(header.get(), data + 8, header_size);
  expect_only_glmasr_errors([&] {
    const auto entries = glmasr::parse_safetensors_header(
        std::string_view(header.get(), header_size), data_size, "fuzz");
    for (const auto& [name, entry] : entries) check_entry(name, entry, data_size);
  });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz_whole_file(data, size);
  fuzz_header(data, size);
  return 0;
}
