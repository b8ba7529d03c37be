// Elapsed wall-clock time on the steady clock: the one way glmasr's timings (--timings, the
// engine loop's accounting, bench's host-timed cases) read it.
#pragma once

#include <atomic>
#include <chrono>

namespace glmasr {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  double milliseconds() const { return 1e3 * seconds(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Adds the seconds it lives to `total`, however the scope is left.
class AddElapsedTo {
 public:
  explicit AddElapsedTo(std::atomic<double>& total) : total_(total) {}
  ~AddElapsedTo() { total_.fetch_add(watch_.seconds()); }
  AddElapsedTo(const AddElapsedTo&) = delete;
  AddElapsedTo& operator=(const AddElapsedTo&) = delete;

 private:
  std::atomic<double>& total_;
  Stopwatch watch_;
};

}  // namespace glmasr
