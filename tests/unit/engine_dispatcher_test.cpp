// The multi-engine dispatcher (issue 15) on scripted engines: sequences spread over the engines
// by load, every result as one engine gives it, a device fault confined to the engine that had
// it, and the --devices list.
#include "runtime/engine_dispatcher.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <vector>

#include "engine/engine_factory.h"
#include "testing/scripted_engine.h"

namespace glmasr {
namespace {

using testing::one_window;
using testing::scripted_request;
using testing::ScriptedEngine;

struct Engines {
  std::vector<ScriptedEngine*> scripted;  // owned by the dispatcher
  std::unique_ptr<EngineDispatcher> dispatcher;
};

Engines make_engines(int count, int slots) {
  Engines out;
  std::vector<std::unique_ptr<Engine>> engines;
  for (int i = 0; i < count; ++i) {
    auto engine = std::make_unique<ScriptedEngine>(slots, 64);
    engine->device_name = cat("cpu:", i);
    out.scripted.push_back(engine.get());
    engines.push_back(std::move(engine));
  }
  out.dispatcher = std::make_unique<EngineDispatcher>(std::move(engines), slots);
  return out;
}

size_t admitted(const ScriptedEngine& engine) {
  size_t count = 0;
  for (const auto& group : engine.admitted_groups) count += group.size();
  return count;
}

// Submits sequences that stop at lengths 3..7, calls `submitted`, and waits for all of them.
std::vector<GenerationResult> run_all(SequenceScheduler& scheduler, int count,
                                      const std::function<void()>& submitted = {}) {
  const MelWindows mel = one_window();
  std::vector<std::promise<GenerationResult>> promises(static_cast<size_t>(count));
  for (int k = 0; k < count; ++k)
    scheduler.submit({.request = scripted_request(mel, 3 + k % 5),
                      .on_done = [&promises, k](GenerationResult r) {
                        promises[static_cast<size_t>(k)].set_value(std::move(r));
                      }});
  if (submitted) submitted();
  std::vector<GenerationResult> results;
  for (auto& promise : promises) {
    auto future = promise.get_future();
    EXPECT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
    results.push_back(future.get());
  }
  return results;
}

TEST(EngineDispatcherTest, SpreadsABurstEvenlyAndGivesOneEnginesResults) {
  Engines two = make_engines(2, 4);
  // Both loops are held until every sequence is handed out, so the split depends on the
  // dispatcher's counts alone, not on how fast the loops run.
  std::promise<void> open;
  const std::shared_future<void> opened = open.get_future().share();
  for (ScriptedEngine* engine : two.scripted) engine->gate = opened;
  const std::vector<GenerationResult> results =
      run_all(*two.dispatcher, 40, [&] { open.set_value(); });
  two.dispatcher->stop();
  for (int k = 0; k < 40; ++k) {
    const GenerationResult& r = results[static_cast<size_t>(k)];
    EXPECT_EQ(r.stop, StopReason::kEos) << k << ": " << r.error;
    EXPECT_EQ(r.tokens.size(), size_t(1 + k % 5)) << k;  // what one engine decodes for it
  }
  // Counted at hand-off: the loops' own stats would have sent the whole burst to one engine.
  EXPECT_EQ(admitted(*two.scripted[0]), 20u);
  EXPECT_EQ(admitted(*two.scripted[1]), 20u);
  const std::vector<EngineStatus> status = two.dispatcher->engines();
  ASSERT_EQ(status.size(), 2u);
  EXPECT_EQ(status[0].device, "cpu:0");
  EXPECT_EQ(status[1].device, "cpu:1");
  EXPECT_GT(status[1].stats.iterations, 0u);
  EXPECT_EQ(two.dispatcher->stats().iterations,
            status[0].stats.iterations + status[1].stats.iterations);
  EXPECT_NE(two.dispatcher->describe().find("2 engines: cpu:0 scripted; cpu:1 scripted"),
            std::string::npos)
      << two.dispatcher->describe();
}

TEST(EngineDispatcherTest, ADeviceFaultFailsOnlyItsEnginesSequences) {
  Engines two = make_engines(2, 4);
  two.scripted[0]->fault_on_admit = true;
  // Ties go to the first engine: this one lands on the faulty engine and fails with its fault.
  const std::vector<GenerationResult> first = run_all(*two.dispatcher, 1);
  EXPECT_EQ(first[0].stop, StopReason::kError);
  EXPECT_EQ(first[0].error, "scripted device fault");
  EXPECT_EQ(two.dispatcher->fault(), "") << "one engine is still healthy";
  EXPECT_EQ(two.dispatcher->engines()[0].fault, "scripted device fault");
  // Later work goes to the healthy engine and succeeds.
  for (const GenerationResult& r : run_all(*two.dispatcher, 12))
    EXPECT_EQ(r.stop, StopReason::kEos) << r.error;
  EXPECT_EQ(admitted(*two.scripted[1]), 12u);

  // The last engine fails too: the dispatcher reports both faults and refuses new work at once.
  two.scripted[1]->fault_on_admit = true;
  EXPECT_EQ(run_all(*two.dispatcher, 1)[0].stop, StopReason::kError);
  EXPECT_EQ(two.dispatcher->fault(), "cpu:0: scripted device fault; cpu:1: scripted device fault");
  EXPECT_EQ(run_all(*two.dispatcher, 1)[0].error, "scripted device fault");
}

TEST(EngineDispatcherTest, OneEngineIsItsLoop) {
  Engines one = make_engines(1, 2);
  for (const GenerationResult& r : run_all(*one.dispatcher, 5))
    EXPECT_EQ(r.stop, StopReason::kEos) << r.error;
  EXPECT_EQ(one.dispatcher->describe(), "scripted");
  EXPECT_EQ(one.dispatcher->kv_positions(), 64);
  EXPECT_THROW(EngineDispatcher({}, 4), Error);
}

TEST(ResolveDevicesTest, ReadsAllAndListsAndRefusesWhatIsNotThere) {
  const EngineOptions cpu{.device = "cpu"};
  EXPECT_EQ(resolve_devices("all", cpu), (std::vector<int>{0}));
  EXPECT_EQ(resolve_devices("0", cpu), (std::vector<int>{0}));
  EXPECT_EQ(resolve_devices("0,0,0", cpu), (std::vector<int>{0, 0, 0}));
  for (const char* bad : {"", ",", "0,", ",0", "a", "0,x", "-1", "1.5", " 0"})
    EXPECT_THROW(resolve_devices(bad, cpu), InputError) << "'" << bad << "'";
  try {
    resolve_devices("1", cpu);
    FAIL() << "GPU 1 on the CPU";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("there is no GPU"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmasr
