// parallel_for over an index range on a few std::threads; runs inline for small work so the
// tiny test models do not pay thread start-up.
#pragma once

#include <cstdint>
#include <functional>

namespace glmasr {

// Calls body(begin, end) on disjoint chunks covering [0, count). `cost_per_item` is a rough
// operation count used to decide whether threads are worth starting.
void parallel_for(int64_t count, int64_t cost_per_item,
                  const std::function<void(int64_t, int64_t)>& body);

}  // namespace glmasr
