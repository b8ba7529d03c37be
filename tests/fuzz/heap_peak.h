// The most heap a piece of work holds above what was allocated before it, measured through the
// sanitizer allocator's malloc hook: the memory budget of the decoding fuzz targets (a small
// input that makes a decoder hold gigabytes is a finding even when nothing crashes).
#pragma once

#include <sanitizer/allocator_interface.h>

#include <algorithm>
#include <atomic>
#include <cstddef>

namespace glmasr::fuzz {

namespace heap_peak_detail {
inline std::atomic<bool> measuring{false};
inline std::atomic<size_t> peak{0};

inline void on_malloc(const volatile void*, size_t) {
  if (!measuring.load(std::memory_order_relaxed)) return;
  const size_t now = __sanitizer_get_current_allocated_bytes();
  size_t seen = peak.load(std::memory_order_relaxed);
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}
inline void on_free(const volatile void*) {}
}  // namespace heap_peak_detail

// Once, from LLVMFuzzerInitialize.
inline void install_heap_peak_hooks() {
  __sanitizer_install_malloc_and_free_hooks(heap_peak_detail::on_malloc, heap_peak_detail::on_free);
}

// Runs `work` (which must not throw) and returns the peak heap it held above the baseline.
template <typename Work>
size_t peak_heap_of(Work&& work) {
  using namespace heap_peak_detail;
  const size_t baseline = __sanitizer_get_current_allocated_bytes();
  peak = baseline;
  measuring = true;
  work();
  measuring = false;
  return peak - std::min(baseline, peak.load());
}

}  // namespace glmasr::fuzz
