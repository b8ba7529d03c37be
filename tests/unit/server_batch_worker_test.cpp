// The batching worker: requests queued while the model is busy go into one call, prompts are
// kept apart, failures (with their exception type) reach every waiting request, cancelled jobs
// are dropped, and a stopped worker refuses new work.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
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

// Submits one job; the future holds what its done received.
std::future<TranscriptionOutcome> submit(BatchWorker& worker, Audio audio, std::string prompt,
                                         std::shared_ptr<std::atomic<bool>> cancelled = nullptr,
                                         std::atomic<int>* started = nullptr) {
  auto promise = std::make_shared<std::promise<TranscriptionOutcome>>();
  TranscriptionJob job;
  job.audio = std::move(audio);
  job.prompt = std::move(prompt);
  if (cancelled) job.cancelled = cancelled;
  if (started) job.events.started = [started] { ++*started; };
  worker.submit(std::move(job), [promise](TranscriptionOutcome outcome) {
    promise->set_value(std::move(outcome));
  });
  return promise->get_future();
}

std::string text_of(std::future<TranscriptionOutcome>& outcome) {
  return outcome.get().result.transcript.value_or(Transcript{}).text;
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
  auto first = submit(worker, audio_named("a"), "p");
  // Wait until the worker has taken "a" and is blocked in the model.
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto b = submit(worker, audio_named("b"), "p");
  auto c = submit(worker, audio_named("c"), "p");
  auto d = submit(worker, audio_named("d"), "p");
  model.release = true;
  EXPECT_EQ(text_of(first), "p:a");
  EXPECT_EQ(text_of(b), "p:b");
  EXPECT_EQ(text_of(c), "p:c");
  EXPECT_EQ(text_of(d), "p:d");
  EXPECT_EQ(worker.batch_sizes(), (std::vector<size_t>{1, 3}));
  ASSERT_EQ(model.calls.size(), 2u);
  EXPECT_EQ(model.calls[1], (std::vector<std::string>{"b", "c", "d"}));
}

TEST(BatchWorker, GroupsABatchByPrompt) {
  FakeModel model;
  model.release = false;
  BatchWorker worker([&](const auto& inputs, const auto& prompt) { return model(inputs, prompt); },
                     16);
  auto blocker = submit(worker, audio_named("0"), "x");
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto a = submit(worker, audio_named("a"), "p");
  auto b = submit(worker, audio_named("b"), "q");
  auto c = submit(worker, audio_named("c"), "p");
  model.release = true;
  blocker.get();
  EXPECT_EQ(text_of(a), "p:a");
  EXPECT_EQ(text_of(b), "q:b");
  EXPECT_EQ(text_of(c), "p:c");
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
  const TranscriptionOutcome outcome = submit(worker, audio_named("a"), "").get();
  ASSERT_TRUE(outcome.failure);
  EXPECT_THROW(std::rethrow_exception(outcome.failure), Error);

  BatchWorker faulty(
      [](const std::vector<Audio>&, const std::string&) -> std::vector<InputResult> {
        throw DeviceError("illegal memory access");
      },
      16);
  auto a = submit(faulty, audio_named("a"), "");
  auto b = submit(faulty, audio_named("b"), "");
  for (auto* future : {&a, &b}) {
    const TranscriptionOutcome failed = future->get();
    ASSERT_TRUE(failed.failure);
    EXPECT_THROW(std::rethrow_exception(failed.failure), DeviceError);  // not turned into text
  }

  BatchWorker short_answer(
      [](const std::vector<Audio>&, const std::string&) { return std::vector<InputResult>{}; }, 16);
  const TranscriptionOutcome short_outcome = submit(short_answer, audio_named("a"), "").get();
  ASSERT_TRUE(short_outcome.failure);
  try {
    std::rethrow_exception(short_outcome.failure);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("0 results for 1 inputs"), std::string::npos);
  }
}

TEST(BatchWorker, RefusesWorkWhenFullOrStopped) {
  FakeModel model;
  model.release = false;
  BatchWorker worker([&](const auto& inputs, const auto& prompt) { return model(inputs, prompt); },
                     1);
  auto running = submit(worker, audio_named("a"), "");
  while (worker.batch_sizes().empty()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto queued = submit(worker, audio_named("b"), "");
  try {
    submit(worker, audio_named("c"), "");
    FAIL() << "no error";
  } catch (const HttpError& e) {
    EXPECT_EQ(e.status(), 503);
  }
  model.release = true;
  worker.stop();  // finishes what was queued first
  EXPECT_TRUE(running.get().result.transcript);
  EXPECT_TRUE(queued.get().result.transcript);
  EXPECT_THROW(submit(worker, audio_named("d"), ""), HttpError);
}

}  // namespace
}  // namespace glmasr::server
