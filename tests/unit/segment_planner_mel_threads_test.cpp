// PlanOptions::mel_threads reaches the planner's log-mel extractor, and the features do not
// depend on it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

#include "audio/audio_file.h"
#include "audio/features.h"
#include "core/error.h"
#include "model/config.h"
#include "pipeline/segment_planner.h"
#include "text/tokenizer.h"
#include "unit/checkpoint_fixture.h"

namespace glmasr {
namespace {

struct TinyModel {
  ModelConfig config = load_model_config(testing::tiny_dir() + "/config.json",
                                         testing::tiny_dir() + "/generation_config.json");
  Tokenizer tokenizer = Tokenizer::from_file(testing::tiny_dir() + "/tokenizer.json");
};

TEST(SegmentPlannerMelThreads, TheOptionReachesTheExtractor) {
  const TinyModel tiny;
  EXPECT_EQ(SegmentPlanner(tiny.config, tiny.tokenizer, {.mel_threads = 3}).mel_threads(), 3);
  EXPECT_EQ(SegmentPlanner(tiny.config, tiny.tokenizer, {}).mel_threads(), default_mel_threads());
  EXPECT_EQ(default_mel_threads(),
            static_cast<int>(std::clamp(std::thread::hardware_concurrency(), 1u, 4u)));
  EXPECT_THROW(SegmentPlanner(tiny.config, tiny.tokenizer, {.mel_threads = -1}), Error);
}

TEST(SegmentPlannerMelThreads, FeaturesDoNotDependOnIt) {
  const TinyModel tiny;
  Audio audio;
  audio.source = "noise";
  std::mt19937 generator(21);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  audio.samples.resize(9 * kSampleRate);
  for (auto& s : audio.samples) s = normal(generator);
  const AudioSegment span{.begin = 0,
                          .end = static_cast<int64_t>(audio.samples.size()),
                          .start_seconds = 0.0,
                          .end_seconds = 9.0,
                          .silent = false};
  const MelWindows one =
      SegmentPlanner(tiny.config, tiny.tokenizer, {.mel_threads = 1}).features(audio, span);
  const MelWindows three =
      SegmentPlanner(tiny.config, tiny.tokenizer, {.mel_threads = 3}).features(audio, span);
  ASSERT_EQ(one.features.shape(), three.features.shape());
  EXPECT_EQ(std::memcmp(one.features.data(), three.features.data(),
                        static_cast<size_t>(one.features.numel()) * sizeof(float)),
            0);
}

}  // namespace
}  // namespace glmasr
