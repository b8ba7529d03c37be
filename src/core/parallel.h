// The one way glmasr spreads CPU work over threads: a few std::threads for one call (the
// caller's thread among them), each taking the next index; small work runs inline so the tiny
// test models do not pay thread start-up. The first exception thrown by the work is rethrown
// on the caller's thread once every thread has stopped.
#pragma once

#include <cstdint>
#include <functional>

namespace glmasr {

// Calls item(i) for every i in [0, count) on up to `threads` threads.
void parallel_indices(int64_t count, int threads, const std::function<void(int64_t)>& item);

// Calls body(begin, end) on disjoint chunks covering [0, count). `cost_per_item` is a rough
// operation count used to decide whether threads are worth starting.
void parallel_for(int64_t count, int64_t cost_per_item,
                  const std::function<void(int64_t, int64_t)>& body);

}  // namespace glmasr
