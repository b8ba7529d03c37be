// The engine loop: one thread owns the engine and runs BatchDecoder iterations continuously.
// Any thread submits sequences (a file's segments, a server request's segments); they join the
// running batch at the next step boundary, their tokens reach their request's on_token as they
// are decoded and their results their on_done, both on the loop's thread. The CLI, the server
// and the library all decode through one of these.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine.h"
#include "runtime/batch_decoder.h"
#include "runtime/sequence_scheduler.h"

namespace glmasr {

class EngineLoop final : public SequenceScheduler {
 public:
  // max_batch as BatchDecoder's. The engine must outlive the loop; only the loop uses it.
  EngineLoop(Engine& engine, int max_batch);
  ~EngineLoop() override;  // stop()
  EngineLoop(const EngineLoop&) = delete;
  EngineLoop& operator=(const EngineLoop&) = delete;

  const ModelConfig& config() const override { return engine_.config(); }
  std::string describe() const override { return engine_.describe(); }
  int kv_positions() const override { return engine_.kv_positions(); }
  // Sequences the loop decodes together: the batch limit within the engine's KV slots.
  int capacity() const { return decoder_.max_batch(); }

  // Thread-safe. After stop() or a device fault the sequence ends at once with kError.
  void submit(Sequence sequence) override;
  // Finishes every submitted sequence, then ends the thread. Idempotent.
  void stop() override;

  EngineLoopStats stats() const override;
  std::vector<EngineStatus> engines() const override;
  // The message of the device fault that stopped the loop (glmasr::DeviceError), or empty. Once
  // set, the engine is not used again: every waiting and later sequence fails with it.
  std::string fault() const override;

 private:
  void run();

  Engine& engine_;
  BatchDecoder decoder_;  // touched only by the loop's thread (and by stop() after the join)
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Sequence> incoming_;
  bool stopping_ = false;
  std::string fault_;
  EngineLoopStats stats_;
  std::thread thread_;
};

}  // namespace glmasr
