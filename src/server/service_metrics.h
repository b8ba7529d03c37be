// The metrics of glmasr serve, named as vLLM names the same quantities (prefix glmasr:), so the
// dashboards and autoscaling rules written for vLLM apply.
#pragma once

#include <string>

#include "server/metrics.h"
#include "server/service_state.h"

namespace glmasr::server {

class ServiceMetrics {
 public:
  explicit ServiceMetrics(MetricsRegistry& registry);

  void set_load(const LoadStats& load);
  // A finished transcription: `finished_reason` is "stop" (every segment ended on its own) or
  // "length" (one hit max_new_tokens).
  void count_success(const std::string& finished_reason);
  // "client_error" (4xx), "server_error" (5xx), "overloaded" (503: queue full) or "cancelled".
  void count_failure(const std::string& reason);

  Histogram& e2e_latency;
  Histogram& queue_time;
  Histogram& time_to_first_token;
  Counter& audio_seconds;
  Counter& prompt_tokens;
  Counter& generation_tokens;

 private:
  MetricsRegistry& registry_;
  Gauge& running_;
  Gauge& waiting_;
  Gauge& kv_cache_usage_;
};

}  // namespace glmasr::server
