#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace glmasr {

void parallel_indices(int64_t count, int threads, const std::function<void(int64_t)>& item) {
  const int64_t workers_wanted = std::min<int64_t>(std::max(threads, 1), count);
  if (workers_wanted <= 1) {
    for (int64_t i = 0; i < count; ++i) item(i);
    return;
  }
  std::atomic<int64_t> next{0};
  std::exception_ptr failure;
  std::mutex failure_mutex;
  auto work = [&] {
    try {
      for (int64_t i = next++; i < count; i = next++) item(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(failure_mutex);
      if (!failure) failure = std::current_exception();
      next = count;  // the others stop at their next index
    }
  };
  std::vector<std::thread> workers;
  for (int64_t t = 1; t < workers_wanted; ++t) workers.emplace_back(work);
  work();
  for (auto& worker : workers) worker.join();
  if (failure) std::rethrow_exception(failure);
}

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
  const int64_t chunk = (count + threads - 1) / threads;
  const int64_t chunks = (count + chunk - 1) / chunk;
  parallel_indices(chunks, static_cast<int>(threads),
                   [&](int64_t c) { body(c * chunk, std::min(count, (c + 1) * chunk)); });
}

}  // namespace glmasr
