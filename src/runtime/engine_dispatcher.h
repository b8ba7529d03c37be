// Data parallelism over several engines (one per GPU, or two on one GPU to test it): each engine
// has its own engine loop, and the dispatcher in front hands every sequence (a whole segment) to
// the healthy engine with the most free capacity at that moment. The pipeline above keeps each
// input's segments in order, so the results read as if one engine had decoded them. An engine
// stopped by a device fault fails only the sequences it held; the others go on, and new work
// goes to them. With one engine it is that engine's loop and nothing more.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "runtime/engine_loop.h"
#include "runtime/sequence_scheduler.h"

namespace glmasr {

class EngineDispatcher final : public SequenceScheduler {
 public:
  // Takes the engines (at least one, all of the same model) and starts a loop of max_batch
  // (as BatchDecoder's) on each.
  EngineDispatcher(std::vector<std::unique_ptr<Engine>> engines, int max_batch);
  ~EngineDispatcher() override;  // stop(), then the engines go
  EngineDispatcher(const EngineDispatcher&) = delete;
  EngineDispatcher& operator=(const EngineDispatcher&) = delete;

  const ModelConfig& config() const override;
  // One engine: its description; several: "2 engines: cuda:0 ..., cuda:1 ...".
  std::string describe() const override;
  int kv_positions() const override;  // the smallest of the engines'

  void submit(Sequence sequence) override;
  void stop() override;

  EngineLoopStats stats() const override;
  std::vector<EngineStatus> engines() const override;
  std::string fault() const override;

  size_t engine_count() const { return lanes_.size(); }
  const Engine& engine(size_t index) const { return *lanes_.at(index)->engine; }

 private:
  struct Lane {
    std::unique_ptr<Engine> engine;
    std::unique_ptr<EngineLoop> loop;
    // Sequences handed to this lane and not yet done: counted here, at hand-off, because the
    // loop's own stats lag until its next iteration and a burst would all go to one engine.
    std::atomic<int> outstanding{0};
  };

  // The healthy lane with the lowest load (outstanding / capacity), or the first lane when every
  // one has faulted (its loop then fails the sequence with its fault).
  Lane& choose();

  std::vector<std::unique_ptr<Lane>> lanes_;
};

}  // namespace glmasr
