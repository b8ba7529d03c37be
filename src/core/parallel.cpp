#include "core/parallel.h"

#include <algorithm>
#include <thread>
#include <vector>

namespace glmasr {

void parallel_for(int64_t count, int64_t cost_per_item,
                  const std::function<void(int64_t, int64_t)>& body) {
  constexpr int64_t kMinWorkPerThread = 1 << 20;
  const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const int64_t useful =
      std::max<int64_t>(1, count * std::max<int64_t>(cost_per_item, 1) / kMinWorkPerThread);
  const int64_t threads = std::min({hardware, useful, count});
  if (threads <= 1) {
    if (count > 0) body(0, count);
    return;
  }
  std::vector<std::thread> workers;
  const int64_t chunk = (count + threads - 1) / threads;
  for (int64_t begin = chunk; begin < count; begin += chunk)
    workers.emplace_back(body, begin, std::min(count, begin + chunk));
  body(0, std::min(count, chunk));
  for (auto& worker : workers) worker.join();
}

}  // namespace glmasr
