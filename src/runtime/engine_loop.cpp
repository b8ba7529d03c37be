#include "runtime/engine_loop.h"

#include <utility>

#include "core/error.h"
#include "core/stopwatch.h"

namespace glmasr {

EngineLoop::EngineLoop(Engine& engine, int max_batch)
    : engine_(engine), decoder_(engine, max_batch), thread_([this] { run(); }) {}

EngineLoop::~EngineLoop() {
  stop();
}

void EngineLoop::submit(Sequence sequence) {
  std::unique_lock<std::mutex> lock(mutex_);
  if (stopping_ || !fault_.empty()) {
    const std::string why = fault_.empty() ? "the engine loop has stopped" : fault_;
    lock.unlock();
    GenerationResult result;
    result.stop = StopReason::kError;
    result.error = why;
    if (sequence.on_done) sequence.on_done(std::move(result));
    return;
  }
  incoming_.push_back(std::move(sequence));
  ++stats_.waiting;
  wake_.notify_one();
}

void EngineLoop::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

EngineLoopStats EngineLoop::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

std::vector<EngineStatus> EngineLoop::engines() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {{.device = engine_.device(), .stats = stats_, .fault = fault_}};
}

std::string EngineLoop::fault() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return fault_;
}

void EngineLoop::run() {
  std::vector<Sequence> arrived;
  double idle_seconds = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      const Stopwatch idle;
      wake_.wait(lock, [&] { return stopping_ || !incoming_.empty() || !decoder_.idle(); });
      idle_seconds += idle.seconds();
      arrived.swap(incoming_);
      if (stopping_ && arrived.empty() && decoder_.idle()) return;
    }
    // Sequences join at the step boundary, in submission order.
    for (Sequence& sequence : arrived) decoder_.enqueue(std::move(sequence));
    arrived.clear();
    try {
      decoder_.iterate();
    } catch (const DeviceError& e) {
      // The context may be poisoned: nothing runs on this engine again.
      {
        std::lock_guard<std::mutex> lock(mutex_);
        fault_ = e.what();
        stopping_ = true;
        arrived.swap(incoming_);
      }
      for (Sequence& sequence : arrived) decoder_.enqueue(std::move(sequence));
      decoder_.fail_all(e.what());
    } catch (const std::exception& e) {
      // A bug, not a device fault: the sequences of this iteration cannot be trusted, the
      // engine can.
      decoder_.fail_all(cat("internal error in the engine loop: ", e.what()));
    }
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.running = decoder_.running();
    stats_.waiting = decoder_.waiting() + static_cast<int>(incoming_.size());
    stats_.kv_cache_usage = decoder_.kv_usage();
    ++stats_.iterations;
    stats_.times = decoder_.times();
    stats_.times.idle_seconds = idle_seconds;
  }
}

}  // namespace glmasr
