// The persistent pool behind the log-mel's frame chunks: every index exactly once, concurrent
// callers, errors rethrown on the caller, and more than one thread really taking part.
#include "core/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

namespace glmasr {
namespace {

TEST(WorkerPool, CallsEveryIndexOnceAcrossManyRuns) {
  WorkerPool pool(4);
  EXPECT_EQ(pool.threads(), 4);
  for (int run = 0; run < 200; ++run) {
    const int64_t count = run % 37;
    std::vector<std::atomic<int>> calls(static_cast<size_t>(count));
    pool.run(count, [&](int64_t i) { ++calls[static_cast<size_t>(i)]; });
    for (int64_t i = 0; i < count; ++i) ASSERT_EQ(calls[i].load(), 1) << run << " " << i;
  }
}

TEST(WorkerPool, WorkersTakePart) {
  WorkerPool pool(3);
  std::mutex mutex;
  std::set<std::thread::id> seen;
  // Each item waits a little so that the workers, woken by the run, get to claim some.
  pool.run(64, [&](int64_t) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::lock_guard<std::mutex> lock(mutex);
    seen.insert(std::this_thread::get_id());
  });
  EXPECT_GE(seen.size(), 2u);
}

TEST(WorkerPool, ServesConcurrentCallers) {
  WorkerPool pool(3);
  std::atomic<int64_t> total{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 6; ++c)
    callers.emplace_back([&] {
      for (int run = 0; run < 50; ++run) pool.run(100, [&](int64_t i) { total += i; });
    });
  for (auto& caller : callers) caller.join();
  EXPECT_EQ(total.load(), 6 * 50 * (99 * 100 / 2));
}

TEST(WorkerPool, RethrowsTheFirstErrorAndStaysUsable) {
  WorkerPool pool(2);
  EXPECT_THROW(pool.run(1000,
                        [](int64_t i) {
                          if (i == 10) throw std::runtime_error("item 10");
                        }),
               std::runtime_error);
  std::atomic<int> calls{0};
  pool.run(10, [&](int64_t) { ++calls; });
  EXPECT_EQ(calls.load(), 10);
}

TEST(WorkerPool, OneThreadRunsInline) {
  WorkerPool pool(1);
  EXPECT_EQ(pool.threads(), 1);
  const auto caller = std::this_thread::get_id();
  pool.run(5, [&](int64_t) { EXPECT_EQ(std::this_thread::get_id(), caller); });
}

}  // namespace
}  // namespace glmasr
