// Whether the service can take work, as GET /ready reports it: the model is loaded, it is not
// draining, and no device fault has poisoned the engine. Shared by the routes and cmd_serve.
#pragma once

#include <atomic>
#include <string>
#include <vector>

namespace glmasr::server {

struct ServiceState {
  std::atomic<bool> model_loaded{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> device_fault{false};

  bool ready() const { return model_loaded && !draining && !device_fault; }
};

// One engine's share of the load (several with --devices).
struct EngineLoad {
  std::string device;  // "cuda:0"
  int running = 0;     // sequences (segments) in its batch
  int waiting = 0;     // sequences queued for it
  double kv_cache_usage = 0;
  bool healthy = true;  // false once a device fault stopped it
};

// The engines' load, read at each scrape of /metrics.
struct LoadStats {
  int running = 0;            // requests being transcribed
  int waiting = 0;            // requests queued for the engine
  double kv_cache_usage = 0;  // 0..1, all engines together
  std::vector<EngineLoad> engines;
};

}  // namespace glmasr::server
