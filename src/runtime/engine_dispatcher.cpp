#include "runtime/engine_dispatcher.h"

#include <algorithm>
#include <utility>

#include "core/error.h"

namespace glmasr {

EngineDispatcher::EngineDispatcher(std::vector<std::unique_ptr<Engine>> engines, int max_batch) {
  GLMASR_CHECK(!engines.empty(), "engine dispatcher: expected at least one engine, got none");
  for (auto& engine : engines) {
    GLMASR_CHECK(engine, "engine dispatcher: expected an engine, got null");
    auto lane = std::make_unique<Lane>();
    lane->engine = std::move(engine);
    lane->loop = std::make_unique<EngineLoop>(*lane->engine, max_batch);
    lanes_.push_back(std::move(lane));
  }
}

EngineDispatcher::~EngineDispatcher() {
  stop();
}

const ModelConfig& EngineDispatcher::config() const {
  return lanes_.front()->engine->config();
}

std::string EngineDispatcher::describe() const {
  if (lanes_.size() == 1) return lanes_.front()->engine->describe();
  std::string out = cat(lanes_.size(), " engines: ");
  for (size_t i = 0; i < lanes_.size(); ++i)
    out += cat(i ? "; " : "", lanes_[i]->engine->device(), " ", lanes_[i]->engine->describe());
  return out;
}

int EngineDispatcher::kv_positions() const {
  int positions = lanes_.front()->engine->kv_positions();
  for (const auto& lane : lanes_) positions = std::min(positions, lane->engine->kv_positions());
  return positions;
}

EngineDispatcher::Lane& EngineDispatcher::choose() {
  Lane* best = nullptr;
  double best_load = 0;
  for (const auto& lane : lanes_) {
    if (!lane->loop->fault().empty()) continue;
    const double load = lane->outstanding.load(std::memory_order_relaxed) /
                        static_cast<double>(lane->loop->capacity());
    if (!best || load < best_load) {
      best = lane.get();
      best_load = load;
    }
  }
  return best ? *best : *lanes_.front();
}

void EngineDispatcher::submit(Sequence sequence) {
  if (lanes_.size() == 1) {
    lanes_.front()->loop->submit(std::move(sequence));
    return;
  }
  // Two planners submitting at once may both pick the same lane: the counts then differ by a
  // sequence or two, which the next choices even out.
  Lane& lane = choose();
  lane.outstanding.fetch_add(1, std::memory_order_relaxed);
  sequence.on_done = [&lane, done = std::move(sequence.on_done)](GenerationResult result) {
    lane.outstanding.fetch_sub(1, std::memory_order_relaxed);
    if (done) done(std::move(result));
  };
  lane.loop->submit(std::move(sequence));
}

void EngineDispatcher::stop() {
  for (auto& lane : lanes_) lane->loop->stop();
}

EngineLoopStats EngineDispatcher::stats() const {
  EngineLoopStats total;
  double kv_slots = 0, kv_used = 0;
  for (const auto& lane : lanes_) {
    const EngineLoopStats stats = lane->loop->stats();
    total.running += stats.running;
    total.waiting += stats.waiting;
    total.iterations += stats.iterations;
    total.times += stats.times;
    const double slots = lane->engine->kv_slots();
    kv_slots += slots;
    kv_used += stats.kv_cache_usage * slots;
  }
  total.kv_cache_usage = kv_slots > 0 ? kv_used / kv_slots : 0.0;
  return total;
}

std::vector<EngineStatus> EngineDispatcher::engines() const {
  std::vector<EngineStatus> out;
  for (const auto& lane : lanes_) {
    std::vector<EngineStatus> one = lane->loop->engines();
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

std::string EngineDispatcher::fault() const {
  std::string faults;
  for (const auto& lane : lanes_) {
    const std::string fault = lane->loop->fault();
    if (fault.empty()) return {};  // one engine is still decoding
    faults += cat(faults.empty() ? "" : "; ",
                  lanes_.size() > 1 ? cat(lane->engine->device(), ": ") : "", fault);
  }
  return faults;
}

}  // namespace glmasr
