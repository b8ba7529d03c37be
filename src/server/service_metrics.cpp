#include "server/service_metrics.h"

#include <string>
#include <vector>

namespace glmasr::server {

namespace {

// Seconds: from a short clip on a GPU to a long file queued behind others.
const std::vector<double> kLatencyBuckets = {0.05, 0.1, 0.25, 0.5, 1,   2.5, 5,
                                             10,   20,  40,   80,  160, 320};
const std::vector<double> kShortBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                           0.5,   1,     2.5,  5,     10,   30};

constexpr const char* kSuccessName = "glmasr:request_success_total";
constexpr const char* kSuccessHelp = "Transcriptions answered, by finished_reason.";
constexpr const char* kFailureName = "glmasr:request_failure_total";
constexpr const char* kFailureHelp = "Requests that failed, by reason.";

}  // namespace

ServiceMetrics::ServiceMetrics(MetricsRegistry& registry)
    : e2e_latency(registry.histogram("glmasr:e2e_request_latency_seconds",
                                     "Transcription requests: from the request to its answer.",
                                     kLatencyBuckets)),
      queue_time(registry.histogram("glmasr:request_queue_time_seconds",
                                    "Time a transcription waited before the engine took it.",
                                    kShortBuckets)),
      time_to_first_token(registry.histogram("glmasr:time_to_first_token_seconds",
                                             "Time from the request to its first decoded token.",
                                             kShortBuckets)),
      audio_seconds(registry.counter("glmasr:audio_seconds_total",
                                     "Seconds of audio transcribed successfully.")),
      prompt_tokens(registry.counter("glmasr:prompt_tokens_total",
                                     "Prompt tokens prefilled, as the engine reports them.")),
      generation_tokens(
          registry.counter("glmasr:generation_tokens_total", "Tokens generated (transcripts).")),
      registry_(registry),
      running_(registry.gauge("glmasr:num_requests_running", "Requests being transcribed.")),
      waiting_(registry.gauge("glmasr:num_requests_waiting", "Requests queued for the engine.")),
      kv_cache_usage_(registry.gauge("glmasr:kv_cache_usage_perc",
                                     "Fraction of the KV cache in use (1 = full).")) {
  // Every outcome is listed from the start, so that rates exist before the first event.
  for (const char* reason : {"stop", "length"})
    registry_.counter(kSuccessName, kSuccessHelp, {{"finished_reason", reason}});
  for (const char* reason : {"client_error", "server_error", "overloaded", "cancelled"})
    registry_.counter(kFailureName, kFailureHelp, {{"reason", reason}});
}

void ServiceMetrics::set_load(const LoadStats& load) {
  running_.set(load.running);
  waiting_.set(load.waiting);
  kv_cache_usage_.set(load.kv_cache_usage);
  // Per engine under their own names, so that summing a family never counts the total twice;
  // `engine` tells apart two engines on one GPU.
  for (size_t i = 0; i < load.engines.size(); ++i) {
    const EngineLoad& engine = load.engines[i];
    const MetricLabels labels = {{"engine", std::to_string(i)}, {"device", engine.device}};
    registry_
        .gauge("glmasr:engine_num_requests_running", "Sequences in this engine's batch.", labels)
        .set(engine.running);
    registry_
        .gauge("glmasr:engine_num_requests_waiting", "Sequences queued for this engine.", labels)
        .set(engine.waiting);
    registry_
        .gauge("glmasr:engine_kv_cache_usage_perc",
               "Fraction of this engine's KV cache in use (1 = full).", labels)
        .set(engine.kv_cache_usage);
    registry_
        .gauge("glmasr:engine_healthy",
               "1 while this engine decodes, 0 once a device fault stopped it.", labels)
        .set(engine.healthy ? 1 : 0);
  }
}

void ServiceMetrics::count_success(const std::string& finished_reason) {
  registry_.counter(kSuccessName, kSuccessHelp, {{"finished_reason", finished_reason}}).add();
}

void ServiceMetrics::count_failure(const std::string& reason) {
  registry_.counter(kFailureName, kFailureHelp, {{"reason", reason}}).add();
}

}  // namespace glmasr::server
