// A few threads for CPU work that must not run on the I/O threads (decoding uploads).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace glmasr::server {

class WorkPool {
 public:
  explicit WorkPool(int threads);
  ~WorkPool();  // stop()
  WorkPool(const WorkPool&) = delete;
  WorkPool& operator=(const WorkPool&) = delete;

  // Runs `work` on one of the threads; work must not throw.
  void post(std::function<void()> work);
  // Finishes what is queued, then joins the threads. Idempotent; post() after it runs nothing.
  void stop();

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace glmasr::server
