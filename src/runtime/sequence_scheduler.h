// Where the pipeline hands its sequences to be decoded: one engine loop (EngineLoop), or several
// engines, one loop each, behind a dispatcher (EngineDispatcher). The transcriber, the server's
// backend and the library see only this.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "model/config.h"
#include "runtime/batch_decoder.h"

namespace glmasr {

struct EngineLoopStats {
  int running = 0;            // sequences in the decoding batch
  int waiting = 0;            // submitted, not yet admitted
  double kv_cache_usage = 0;  // 0..1, see BatchDecoder::kv_usage
  uint64_t iterations = 0;    // engine-loop iterations run so far
  DecodeTimes times;          // where the loop's time went
};

// One engine behind a scheduler, as /metrics and the logs name it.
struct EngineStatus {
  std::string device;  // "cuda:0", "cpu"
  EngineLoopStats stats;
  std::string fault;  // its device fault, or empty while it is healthy
};

class SequenceScheduler {
 public:
  virtual ~SequenceScheduler() = default;

  virtual const ModelConfig& config() const = 0;
  virtual std::string describe() const = 0;
  // Positions (prompt + generated) a sequence may occupy: what a KV slot of every engine holds.
  virtual int kv_positions() const = 0;

  // Thread-safe. The sequence's callbacks run on the thread of the engine loop that decodes it.
  // When no engine can take it (stopped, or every one faulted) it ends at once with kError.
  virtual void submit(Sequence sequence) = 0;
  // Finishes every submitted sequence, then ends the loops. Idempotent.
  virtual void stop() = 0;

  // All engines together.
  virtual EngineLoopStats stats() const = 0;
  // Each engine, in the order they were given.
  virtual std::vector<EngineStatus> engines() const = 0;
  // Set once no engine is left to decode (each one stopped by a device fault): their messages.
  // While one engine is healthy it is empty; the faulted one's sequences failed on their own.
  virtual std::string fault() const = 0;
};

}  // namespace glmasr
