// The batching worker: requests queued while the model is busy go into one call, prompts are
// kept apart, failures reach every waiting request, and a stopped worker refuses new work.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "server/batch_worker.h"
#include "server/http_message.h"

namespace glmasr::server {
namespace {

Audio audio_named(const std::string& name) {
  Audio audio;
  audio.source = name;
  audio.samples.assign(16000, 0.0f);
  return audio;
}

// Transcribes to "<prompt>:<source>" and records the calls.
struct FakeModel {
  std::mutex mutex;
  std::vector<std::vector<std::string>> calls;  // sources per call
  std::atomic<bool> release{true};

  std::vector<InputResult> operator()(const std::vector<Audio>& inputs, const std::string& prompt) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    std::lock_guard lock(mutex);
    calls.emplace_back();
    std::vector<InputResult> results;
    for (const Audio& audio : inputs) {
      calls.back().push_back(audio.source);
      InputResult result;
      result.source = audio.source;
      result.transcript = Transcript{};
      result.transcript->text = prompt + ":" + audio.source;
      results.push_back(std::move(result));
    }
    return results;
  }
};

TEST(BatchWorker, RequestsQueuedWhileBusyFormOneBatch) {
  FakeModel model;
  model.release = false;
  BatchWorker worker([&](const auto& inputs, const auto& prompt) { return model(inputs, prompt); },
                     16);
  auto first = worker.submit(audio_named("a"), "p");
  // Wait until the worker has taken "a" and is blocked in the model.
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto b = worker.submit(audio_named("b"), "p");
  auto c = worker.submit(audio_named("c"), "p");
  auto d = worker.submit(audio_named("d"), "p");
  model.release = true;
  EXPECT_EQ(first.get().transcript->text, "p:a");
  EXPECT_EQ(b.get().transcript->text, "p:b");
  EXPECT_EQ(c.get().transcript->text, "p:c");
  EXPECT_EQ(d.get().transcript->text, "p:d");
  EXPECT_EQ(worker.batch_sizes(), (std::vector<size_t>{1, 3}));
  ASSERT_EQ(model.calls.size(), 2u);
  EXPECT_EQ(model.calls[1], (std::vector<std::string>{"b", "c", "d"}));
}

TEST(BatchWorker, GroupsABatchByPrompt) {
  FakeModel model;
  model.release = false;
  BatchWorker worker([&](const auto& inputs, const auto& prompt) { return model(inputs, prompt); },
                     16);
  auto blocker = worker.submit(audio_named("0"), "x");
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto a = worker.submit(audio_named("a"), "p");
  auto b = worker.submit(audio_named("b"), "q");
  auto c = worker.submit(audio_named("c"), "p");
  model.release = true;
  blocker.get();
  EXPECT_EQ(a.get().transcript->text, "p:a");
  EXPECT_EQ(b.get().transcript->text, "q:b");
  EXPECT_EQ(c.get().transcript->text, "p:c");
  ASSERT_EQ(model.calls.size(), 3u);
  EXPECT_EQ(model.calls[1], (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(model.calls[2], (std::vector<std::string>{"b"}));
}

TEST(BatchWorker, AFailingModelAnswersEveryRequestWithTheError) {
  BatchWorker worker(
      [](const std::vector<Audio>&, const std::string&) -> std::vector<InputResult> {
        throw Error("CUDA out of memory");
      },
      16);
  const InputResult result = worker.submit(audio_named("a"), "").get();
  EXPECT_FALSE(result.transcript);
  EXPECT_EQ(result.source, "a");
  EXPECT_EQ(result.error, "CUDA out of memory");

  BatchWorker short_answer(
      [](const std::vector<Audio>&, const std::string&) { return std::vector<InputResult>{}; }, 16);
  EXPECT_NE(short_answer.submit(audio_named("a"), "").get().error.find("0 results for 1 inputs"),
            std::string::npos);
}

TEST(BatchWorker, RefusesWorkWhenFullOrStopped) {
  FakeModel model;
  model.release = false;
  BatchWorker worker([&](const auto& inputs, const auto& prompt) { return model(inputs, prompt); },
                     1);
  auto running = worker.submit(audio_named("a"), "");
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto queued = worker.submit(audio_named("b"), "");
  try {
    worker.submit(audio_named("c"), "");
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 503);
  }
  model.release = true;
  worker.stop();  // finishes what was queued first
  EXPECT_TRUE(running.get().transcript);
  EXPECT_TRUE(queued.get().transcript);
  EXPECT_THROW(worker.submit(audio_named("d"), ""), HttpError);
}

}  // namespace
}  // namespace glmasr::server
