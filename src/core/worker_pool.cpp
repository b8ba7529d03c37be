#include "core/worker_pool.h"

#include <algorithm>
#include <atomic>
#include <exception>

namespace glmasr {

struct WorkerPool::Job {
  int64_t count = 0;
  const std::function<void(int64_t)>* item = nullptr;
  std::atomic<int64_t> next{0};
  int helpers = 0;  // workers inside work_on(*this); guarded by the pool's mutex
  std::mutex failure_mutex;
  std::exception_ptr failure;
};

WorkerPool::WorkerPool(int threads) {
  for (int t = 1; t < threads; ++t) workers_.emplace_back([this] { work_loop(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  work_ready_.notify_all();
  for (auto& worker : workers_) worker.join();
}

void WorkerPool::work_on(Job& job) {
  try {
    for (int64_t i = job.next++; i < job.count; i = job.next++) (*job.item)(i);
  } catch (...) {
    std::lock_guard<std::mutex> lock(job.failure_mutex);
    if (!job.failure) job.failure = std::current_exception();
    job.next = job.count;  // the others stop at their next index
  }
}

void WorkerPool::retire(Job* job) {
  const auto it = std::find(queue_.begin(), queue_.end(), job);
  if (it != queue_.end()) queue_.erase(it);
}

void WorkerPool::work_loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    work_ready_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    Job* job = queue_.front();
    ++job->helpers;
    lock.unlock();
    work_on(*job);
    lock.lock();
    retire(job);  // all its indices are claimed: nobody else should pick it up
    --job->helpers;
    helper_left_.notify_all();
  }
}

void WorkerPool::run(int64_t count, const std::function<void(int64_t)>& item) {
  if (count <= 0) return;
  Job job;
  job.count = count;
  job.item = &item;
  const bool helped = !workers_.empty() && count > 1;
  if (helped) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(&job);
    }
    work_ready_.notify_all();
  }
  work_on(job);
  if (helped) {
    std::unique_lock<std::mutex> lock(mutex_);
    retire(&job);
    helper_left_.wait(lock, [&] { return job.helpers == 0; });
  }
  if (job.failure) std::rethrow_exception(job.failure);
}

}  // namespace glmasr
