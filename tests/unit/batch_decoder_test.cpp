// The engine loop's scheduling, on a scripted engine: who is admitted when, what each step
// carries, cancellation, per-request failures and device faults.
#include "runtime/batch_decoder.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "core/error.h"
#include "runtime/engine_loop.h"
#include "runtime/kv_slot_pool.h"
#include "testing/scripted_engine.h"

namespace glmasr {
namespace {

constexpr int32_t kEos = testing::kScriptedEos;
using testing::one_window;
using testing::scripted_request;
using testing::ScriptedEngine;

TEST(KvSlotPoolTest, HandsOutEachSlotOnceAndTakesBackOnlyUsedOnes) {
  KvSlotPool pool(2);
  const auto a = pool.acquire(), b = pool.acquire();
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_FALSE(pool.acquire());
  EXPECT_EQ(pool.in_use(), 2);
  pool.release(*a);
  EXPECT_THROW(pool.release(*a), Error);
  EXPECT_THROW(pool.release(5), Error);
  EXPECT_EQ(pool.acquire(), a);
  EXPECT_THROW(KvSlotPool(0), Error);
}

TEST(BatchDecoderTest, GivesEveryRequestItsTokensInRequestOrder) {
  ScriptedEngine engine(4, 64);
  const MelWindows mel = one_window();
  const auto results = generate(
      engine, {scripted_request(mel, 5), scripted_request(mel, 3), scripted_request(mel, 9, 4)});
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].tokens, (std::vector<int32_t>{102, 103, 104}));
  EXPECT_EQ(results[0].stop, StopReason::kEos);
  EXPECT_EQ(results[1].tokens, (std::vector<int32_t>{102}));
  EXPECT_EQ(results[2].tokens, (std::vector<int32_t>{102, 103, 104, 105}));
  EXPECT_EQ(results[2].stop, StopReason::kLength);
  EXPECT_TRUE(engine.occupied.empty());
  EXPECT_EQ(engine.releases, 3);
}

TEST(BatchDecoderTest, ANewcomerJoinsAtTheNextStepNotWhenTheBatchFinishes) {
  ScriptedEngine engine(4, 64);
  const MelWindows mel = one_window();
  BatchDecoder decoder(engine, 4);
  GenerationResult long_result, late_result;
  decoder.enqueue({.request = scripted_request(mel, 40),
                   .on_done = [&](GenerationResult r) { long_result = std::move(r); }});
  decoder.iterate();  // admits the long one
  decoder.iterate();  // steps it
  decoder.enqueue({.request = scripted_request(mel, 4),
                   .on_done = [&](GenerationResult r) { late_result = std::move(r); }});
  decoder.iterate();  // steps the long one, admits the newcomer
  EXPECT_EQ(engine.admitted_groups.size(), 2u);
  decoder.iterate();
  EXPECT_EQ(engine.step_sizes.back(), 2) << "the newcomer must share the next step";
  while (!decoder.idle()) decoder.iterate();
  EXPECT_EQ(late_result.tokens.size(), 2u);
  EXPECT_EQ(long_result.tokens.size(), 38u);
}

TEST(BatchDecoderTest, LaunchesTheNextStepBeforeCollectingTheOneInFlight) {
  ScriptedEngine engine(4, 64);
  const MelWindows mel = one_window();
  // Lengths 5 and 4 (prompt 2): three and two tokens after the first.
  const auto results = generate(engine, {scripted_request(mel, 6), scripted_request(mel, 4)});
  EXPECT_EQ(results[0].tokens, (std::vector<int32_t>{102, 103, 104, 105}));
  EXPECT_EQ(results[1].tokens, (std::vector<int32_t>{102, 103}));
  // Step 1 feeds the prefills' tokens; each later row follows its sequence's row of the step in
  // flight. The second sequence chooses eos in step 2, which the host sees only after step 3 was
  // launched with its row: that row is dropped. The first chooses eos in step 4, and step 5,
  // launched before the host saw it, is dropped whole.
  EXPECT_EQ(engine.calls, (std::vector<std::string>{"launch h h", "launch f0 f1", "collect",
                                                    "launch f0 f1", "collect", "launch f0",
                                                    "collect", "launch f0", "collect", "collect"}));
  EXPECT_TRUE(engine.occupied.empty());
  EXPECT_EQ(engine.releases, 2);
}

TEST(BatchDecoderTest, RowsFollowTheirOwnSequenceAfterOthersLeave) {
  ScriptedEngine engine(8, 64);
  const MelWindows mel = one_window();
  std::vector<GenerationRequest> requests;
  for (int stop : {9, 4, 12, 5, 7, 3, 10}) requests.push_back(scripted_request(mel, stop));
  const auto results = generate(engine, requests, /*max_batch=*/4);
  // The engine checks every fed token against its slot's last choice; the lengths come out whole.
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_EQ(results[i].tokens.size(), size_t(requests[i].prompt_ids[0] - 2)) << i;
  EXPECT_TRUE(engine.occupied.empty());
}

TEST(BatchDecoderTest, KeepsTheBatchLimitAndReusesFreedSlots) {
  ScriptedEngine engine(8, 64);
  const MelWindows mel = one_window();
  std::vector<GenerationRequest> requests;
  for (int i = 0; i < 7; ++i) requests.push_back(scripted_request(mel, 4 + i));
  const auto results = generate(engine, requests, /*max_batch=*/3);
  for (int size : engine.step_sizes) EXPECT_LE(size, 3);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(results[i].tokens.size(), size_t(2 + i)) << i;
}

TEST(BatchDecoderTest, GroupsAdmissionsByTheEncoderBatch) {
  ScriptedEngine engine(8, 64, /*encoder_windows=*/2);
  const MelWindows mel = one_window();
  generate(engine, {scripted_request(mel, 4), scripted_request(mel, 4), scripted_request(mel, 4),
                    scripted_request(mel, 4)});
  ASSERT_EQ(engine.admitted_groups.size(), 2u);
  EXPECT_EQ(engine.admitted_groups[0].size(), 2u);
}

TEST(BatchDecoderTest, AFailedAdmissionFailsOnlyThatRequestAndFreesItsSlot) {
  ScriptedEngine engine(2, 64);
  const MelWindows mel = one_window();
  GenerationRequest bad = scripted_request(mel, 4);
  bad.prompt_ids[0] = -1;
  const auto results = generate(engine, {bad, scripted_request(mel, 4), scripted_request(mel, 5)});
  EXPECT_EQ(results[0].stop, StopReason::kError);
  EXPECT_EQ(results[0].error, "scripted admission failure");
  EXPECT_EQ(results[1].tokens.size(), 2u);
  EXPECT_EQ(results[2].tokens.size(), 3u);
  EXPECT_TRUE(engine.occupied.empty());
}

TEST(BatchDecoderTest, RejectsRequestsThatCannotRunBeforeTheyTakeASlot) {
  ScriptedEngine engine(2, 8);
  const MelWindows mel = one_window();
  GenerationRequest no_rows = scripted_request(mel, 4);
  no_rows.audio_rows.clear();
  GenerationRequest too_long = scripted_request(mel, 4);
  too_long.prompt_ids.resize(8, 1);
  GenerationRequest no_tokens = scripted_request(mel, 4, 0);
  const auto results = generate(engine, {no_rows, too_long, no_tokens, scripted_request(mel, 4)});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(results[i].stop, StopReason::kError) << i;
  EXPECT_NE(results[1].error.find("positions"), std::string::npos) << results[1].error;
  EXPECT_EQ(results[3].stop, StopReason::kEos);
  EXPECT_EQ(engine.admitted_groups.size(), 1u);
}

TEST(BatchDecoderTest, StopsASequenceWhenItsSlotIsFull) {
  ScriptedEngine engine(1, 6);
  const MelWindows mel = one_window();
  const auto results = generate(engine, {scripted_request(mel, 50)});
  EXPECT_EQ(results[0].stop, StopReason::kLength);
  // Tokens fed at positions 2..5 fill the slot; the token chosen after position 5 is the fifth
  // and needs no cache row.
  EXPECT_EQ(results[0].tokens.size(), 5u);
}

TEST(BatchDecoderTest, CancellationEndsASequenceWithinOneStep) {
  ScriptedEngine engine(2, 64);
  const MelWindows mel = one_window();
  BatchDecoder decoder(engine, 2);
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  auto waiting_cancelled = std::make_shared<std::atomic<bool>>(true);
  GenerationResult running, waiting;
  decoder.enqueue({.request = scripted_request(mel, 60),
                   .on_done = [&](GenerationResult r) { running = std::move(r); },
                   .cancelled = cancelled});
  decoder.enqueue({.request = scripted_request(mel, 60),
                   .on_done = [&](GenerationResult r) { waiting = std::move(r); },
                   .cancelled = waiting_cancelled});
  decoder.iterate();
  EXPECT_EQ(waiting.stop, StopReason::kCancelled);
  EXPECT_EQ(engine.admitted_groups.at(0).size(), 1u) << "a cancelled request is never admitted";
  cancelled->store(true);
  const size_t steps = engine.step_sizes.size();
  decoder.iterate();
  EXPECT_EQ(running.stop, StopReason::kCancelled);
  EXPECT_EQ(engine.step_sizes.size(), steps) << "no step after the cancel";
  EXPECT_TRUE(decoder.idle());
  EXPECT_TRUE(engine.occupied.empty());
}

TEST(BatchDecoderTest, BackgroundSequencesWaitWhileOthersWait) {
  ScriptedEngine engine(1, 64);
  const MelWindows mel = one_window();
  BatchDecoder decoder(engine, 1);
  std::vector<int> finished;
  auto add = [&](int stop, bool background) {
    decoder.enqueue({.request = scripted_request(mel, stop),
                     .on_done = [&finished, stop](GenerationResult) { finished.push_back(stop); },
                     .background = background});
  };
  add(4, true);
  add(5, false);
  add(6, true);
  add(7, false);
  while (!decoder.idle()) decoder.iterate();
  EXPECT_EQ(finished, (std::vector<int>{5, 7, 4, 6}));
}

TEST(BatchDecoderTest, KvUsageCountsTheReservedPositions) {
  ScriptedEngine engine(2, 50);
  const MelWindows mel = one_window();
  BatchDecoder decoder(engine, 2);
  decoder.enqueue({.request = scripted_request(mel, 40, 23), .on_done = [](GenerationResult) {}});
  EXPECT_EQ(decoder.kv_usage(), 0.0);
  decoder.iterate();
  EXPECT_DOUBLE_EQ(decoder.kv_usage(), 25.0 / 100.0);  // prompt 2 + 23 of 2 x 50
  while (!decoder.idle()) decoder.iterate();
  EXPECT_EQ(decoder.kv_usage(), 0.0);
}

TEST(EngineLoopTest, DecodesSequencesSubmittedFromSeveralThreads) {
  ScriptedEngine engine(4, 64);
  const MelWindows mel = one_window();
  EngineLoop loop(engine, 4);
  std::vector<std::promise<GenerationResult>> promises(16);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 4; ++i) {
        const int k = t * 4 + i;
        loop.submit(
            {.request = scripted_request(mel, 3 + k % 5),
             .on_done = [&, k](GenerationResult r) { promises[k].set_value(std::move(r)); }});
      }
    });
  for (auto& thread : threads) thread.join();
  for (int k = 0; k < 16; ++k) {
    auto future = promises[k].get_future();
    ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready) << k;
    EXPECT_EQ(future.get().tokens.size(), size_t(1 + k % 5)) << k;
  }
  loop.stop();
  GenerationResult after;
  loop.submit(
      {.request = scripted_request(mel, 3), .on_done = [&](GenerationResult r) { after = r; }});
  EXPECT_EQ(after.stop, StopReason::kError);
}

TEST(EngineLoopTest, ADeviceFaultFailsEverySequenceAndStopsTheLoop) {
  ScriptedEngine engine(4, 64);
  engine.fault_on_admit = true;
  const MelWindows mel = one_window();
  EngineLoop loop(engine, 4);
  std::promise<GenerationResult> first;
  loop.submit({.request = scripted_request(mel, 3),
               .on_done = [&](GenerationResult r) { first.set_value(std::move(r)); }});
  auto future = first.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const GenerationResult r = future.get();
  EXPECT_EQ(r.stop, StopReason::kError);
  EXPECT_EQ(r.error, "scripted device fault");
  // The fault is recorded before the sequences are failed, so it is visible now.
  EXPECT_EQ(loop.fault(), "scripted device fault");
  GenerationResult later;
  loop.submit(
      {.request = scripted_request(mel, 3), .on_done = [&](GenerationResult g) { later = g; }});
  EXPECT_EQ(later.error, "scripted device fault");
}

}  // namespace
}  // namespace glmasr

namespace glmasr {
namespace {

// Every stop reason has its name in the transcript ("?" meant one was forgotten).
TEST(StopReasonName, NamesEveryReason) {
  EXPECT_STREQ(stop_reason_name(StopReason::kEos), "eos");
  EXPECT_STREQ(stop_reason_name(StopReason::kLength), "length");
  EXPECT_STREQ(stop_reason_name(StopReason::kStopped), "stopped");
  EXPECT_STREQ(stop_reason_name(StopReason::kCancelled), "cancelled");
  EXPECT_STREQ(stop_reason_name(StopReason::kError), "error");
}

}  // namespace
}  // namespace glmasr
