// A few persistent threads that help callers with indexed work, for latency-bound work that is
// too short to pay thread start-up on every call (one log-mel window: a few milliseconds).
// Several callers may run work at once: each works on its own indices itself and the pool's idle
// threads join in, so a busy pool slows nobody down below single-threaded speed.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace glmasr {

class WorkerPool {
 public:
  // `threads` counts the caller: threads - 1 workers are started (none for 1).
  explicit WorkerPool(int threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls item(i) for every i in [0, count) on the calling thread and idle workers; returns once
  // all calls are done. The first exception thrown is rethrown here once the others stopped.
  void run(int64_t count, const std::function<void(int64_t)>& item);

  int threads() const { return static_cast<int>(workers_.size()) + 1; }

 private:
  struct Job;
  void work_loop();
  static void work_on(Job& job);
  void retire(Job* job);  // takes a job whose indices are all claimed off the queue

  std::mutex mutex_;
  std::condition_variable work_ready_;  // a job was queued, or stop
  std::condition_variable helper_left_;
  std::deque<Job*> queue_;  // jobs with indices left to claim
  bool stop_ = false;
  std::vector<std::thread> workers_;
};

}  // namespace glmasr
