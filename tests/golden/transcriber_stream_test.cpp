// The transcriber on the engine loop with the tiny checkpoint: streamed text and segments arrive
// in order and add up to the non-streamed result, inputs of one call share the loop, and a
// cancelled input stops.
#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "audio/features.h"
#include "engine/engine_factory.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_loop.h"
#include "testing/testing.h"
#include "text/tokenizer.h"

namespace glmasr {
namespace {

class TranscriberStream : public ::testing::Test {
 protected:
  void SetUp() override {
    if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
    const std::string model = testing::data_dir() + "/tiny";
    tokenizer_ = std::make_unique<Tokenizer>(Tokenizer::from_file(model + "/tokenizer.json"));
    engine_ = create_engine(model, EngineOptions{.device = "cpu", .max_batch = 4});
    loop_ = std::make_unique<EngineLoop>(*engine_, 4);
    options_.max_new_tokens = 12;
    options_.loop_guard = false;
    jfk_ = read_audio(testing::shared_dir() + "/audio/jfk.wav");
  }

  // jfk.wav five times with pauses: at least three segments.
  Audio long_audio() const {
    Audio audio{{}, kSampleRate, 1, "long"};
    for (int i = 0; i < 5; ++i) {
      audio.samples.insert(audio.samples.end(), jfk_.samples.begin(), jfk_.samples.end());
      audio.samples.insert(audio.samples.end(), 3 * kSampleRate, 0.0f);
    }
    return audio;
  }

  std::unique_ptr<Tokenizer> tokenizer_;
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<EngineLoop> loop_;
  TranscribeOptions options_;
  Audio jfk_;
};

TEST_F(TranscriberStream, DeltasJoinedEqualTheTextAndSegmentsComeInOrder) {
  Transcriber transcriber(*loop_, *tokenizer_, options_);
  std::string joined;
  std::vector<int> segment_ids;
  std::promise<InputResult> done;
  InputOptions input;
  input.on_text_delta = [&](std::string_view d) { joined += d; };
  input.on_segment = [&](const TranscriptSegment& s) { segment_ids.push_back(s.id); };
  transcriber.submit(long_audio(), input, [&](InputResult r) { done.set_value(std::move(r)); });
  const InputResult streamed = done.get_future().get();
  ASSERT_TRUE(streamed.transcript) << streamed.error;
  const auto& segments = streamed.transcript->segments;
  ASSERT_GE(segments.size(), 3u);
  EXPECT_EQ(joined, streamed.transcript->text);
  ASSERT_EQ(segment_ids.size(), segments.size());
  for (size_t i = 0; i < segment_ids.size(); ++i) EXPECT_EQ(segment_ids[i], int(i));

  // The same audio without streaming gives the same text and tokens.
  const InputResult plain = transcriber.transcribe_audio({long_audio()}).at(0);
  ASSERT_TRUE(plain.transcript) << plain.error;
  EXPECT_EQ(plain.transcript->text, streamed.transcript->text);
  for (size_t i = 0; i < segments.size(); ++i)
    EXPECT_EQ(plain.transcript->segments[i].tokens, segments[i].tokens) << i;
}

TEST_F(TranscriberStream, ACancelledInputEndsWithAnErrorAndOthersFinish) {
  Transcriber transcriber(*loop_, *tokenizer_, options_);
  auto cancelled = std::make_shared<std::atomic<bool>>(true);
  std::promise<InputResult> gone, kept;
  InputOptions cancel_me;
  cancel_me.cancelled = cancelled;
  transcriber.submit(long_audio(), cancel_me, [&](InputResult r) { gone.set_value(r); });
  transcriber.submit(jfk_, {}, [&](InputResult r) { kept.set_value(r); });
  const InputResult a = gone.get_future().get(), b = kept.get_future().get();
  EXPECT_FALSE(a.transcript);
  EXPECT_NE(a.error.find("cancelled"), std::string::npos) << a.error;
  EXPECT_TRUE(b.transcript) << b.error;
}

TEST_F(TranscriberStream, InputsAreReportedInOrderAsTheyFinish) {
  Transcriber transcriber(*loop_, *tokenizer_, options_);
  std::vector<size_t> order;
  const auto results = transcriber.transcribe_audio({long_audio(), jfk_, jfk_}, nullptr,
                                                    [&](size_t i, const InputResult& r) {
                                                      EXPECT_TRUE(r.transcript) << r.error;
                                                      order.push_back(i);
                                                    });
  EXPECT_EQ(order, (std::vector<size_t>{0, 1, 2}));
  EXPECT_EQ(results[1].transcript->text, results[2].transcript->text);
}

}  // namespace
}  // namespace glmasr
