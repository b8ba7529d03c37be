// Long-form transcription on the GPU against the CPU path (issue 5): a 2.6-minute file gives the
// same segments, and the same tokens up to the first step whose CPU top-2 margin is within bf16
// noise. The same holds for two engines on one GPU behind the dispatcher (issue 15).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "audio/audio_file.h"
#include "audio/features.h"
#include "audio/mel.h"
#include "engine/engine_factory.h"
#include "model/audio_tokens.h"
#include "pipeline/transcriber.h"
#include "runtime/engine_dispatcher.h"
#include "runtime/engine_loop.h"
#include "runtime/sampling.h"
#include "testing/gpu.h"
#include "testing/testing.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

namespace glmasr {
namespace {

// bf16 logits of the tiny model differ from float32 ones by a few hundredths; a margin below
// this cannot decide between the two top tokens.
constexpr float kBf16MarginNoise = 0.1f;

float top2_margin(const float* logits, int64_t vocab) {
  float first = -INFINITY, second = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) {
    if (logits[i] > first) {
      second = first;
      first = logits[i];
    } else if (logits[i] > second) {
      second = logits[i];
    }
  }
  return first - second;
}

Audio long_jfk() {
  const Audio jfk = read_audio(testing::shared_dir() + "/audio/jfk.wav");
  Audio long_audio{{}, kSampleRate, 1, "long"};
  while (long_audio.samples.size() < 160 * kSampleRate) {
    long_audio.samples.insert(long_audio.samples.end(), jfk.samples.begin(), jfk.samples.end());
    long_audio.samples.insert(long_audio.samples.end(), 24000, 0.0f);
  }
  return long_audio;
}

TranscribeOptions short_segments() {
  TranscribeOptions options;
  options.max_new_tokens = 8;
  options.loop_guard = false;
  return options;
}

// `a` and `b` have the same segments, and their tokens agree up to the first step whose top-2
// margin on `reference` (the CPU engine) is within bf16 noise.
void expect_same_up_to_noise(const InputResult& on_a, const InputResult& on_b, Engine& reference,
                             const Tokenizer& tokenizer, const Audio& audio) {
  ASSERT_TRUE(on_a.transcript) << on_a.error;
  ASSERT_TRUE(on_b.transcript) << on_b.error;
  const auto& a = on_a.transcript->segments;
  const auto& b = on_b.transcript->segments;
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 6u);

  const LogMelExtractor mel_extractor(reference.config().encoder.num_mel_bins);
  for (size_t s = 0; s < a.size(); ++s) {
    EXPECT_DOUBLE_EQ(a[s].start, b[s].start) << "segment " << s;
    EXPECT_DOUBLE_EQ(a[s].end, b[s].end) << "segment " << s;
    size_t same = 0;
    while (same < std::min(a[s].tokens.size(), b[s].tokens.size()) &&
           a[s].tokens[same] == b[s].tokens[same])
      ++same;
    if (same == a[s].tokens.size() && same == b[s].tokens.size()) continue;
    // They part at step `same`: the reference's margin there must be within bf16 noise.
    const auto begin = static_cast<int64_t>(a[s].start * kSampleRate);
    const auto end = static_cast<int64_t>(a[s].end * kSampleRate);
    const std::vector<float> samples(audio.samples.begin() + begin, audio.samples.begin() + end);
    const MelWindows mel = mel_extractor.compute(samples);
    int64_t audio_tokens = 0;
    for (int64_t frames : mel.valid_frames)
      audio_tokens += audio_tokens_for_frames(frames, reference.config().encoder.merge_factor);
    const auto prompt = build_prompt_ids(tokenizer, audio_tokens, short_segments().prompt_text,
                                         reference.config().audio_token_id);
    const std::vector<int32_t> forced(a[s].tokens.begin(), a[s].tokens.begin() + same);
    const FloatTensor logits = reference.teacher_forced_logits(mel, prompt, forced);
    const int64_t vocab = logits.dim(1);
    EXPECT_LT(top2_margin(logits.data() + same * vocab, vocab), kBf16MarginNoise)
        << "segment " << s << " parts at step " << same << " where the CPU margin is clear";
  }
}

TEST(LongFormGpu, SameSegmentsAndTokensAsTheCpuPath) {
  GLMASR_SKIP_WITHOUT_GPU();
  if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
  const std::string model = testing::data_dir() + "/tiny";
  const Audio long_audio = long_jfk();
  const Tokenizer tokenizer = Tokenizer::from_file(model + "/tokenizer.json");
  auto cpu = create_engine(model, EngineOptions{.device = "cpu"});
  auto gpu = create_engine(model, EngineOptions{.device = "cuda", .max_batch = 4});
  EngineLoop cpu_loop(*cpu, 4), gpu_loop(*gpu, 4);
  const auto on_cpu =
      Transcriber(cpu_loop, tokenizer, short_segments()).transcribe_audio({long_audio});
  const auto on_gpu =
      Transcriber(gpu_loop, tokenizer, short_segments()).transcribe_audio({long_audio});
  expect_same_up_to_noise(on_cpu[0], on_gpu[0], *cpu, tokenizer, long_audio);
}

// Issue 15 on one GPU: two engines on GPU 0 behind the dispatcher (as `--devices 0,0`) give the
// one engine's transcript, with both engines used.
TEST(LongFormGpu, TwoEnginesOnOneGpuGiveTheOneEngineTranscript) {
  GLMASR_SKIP_WITHOUT_GPU();
  if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
  const std::string model = testing::data_dir() + "/tiny";
  const Audio long_audio = long_jfk();
  const Tokenizer tokenizer = Tokenizer::from_file(model + "/tokenizer.json");
  const EngineOptions gpu_options{.device = "cuda", .max_batch = 4};
  auto cpu = create_engine(model, EngineOptions{.device = "cpu"});
  EngineDispatcher one(create_engines(model, gpu_options, {0}), 4);
  EngineDispatcher two(create_engines(model, gpu_options, resolve_devices("0,0", gpu_options)), 4);
  ASSERT_EQ(two.engine_count(), 2u);
  EXPECT_EQ(two.engine(1).device(), "cuda:0");
  const auto on_one = Transcriber(one, tokenizer, short_segments()).transcribe_audio({long_audio});
  const auto on_two = Transcriber(two, tokenizer, short_segments()).transcribe_audio({long_audio});
  expect_same_up_to_noise(on_one[0], on_two[0], *cpu, tokenizer, long_audio);
  for (const EngineStatus& engine : two.engines())
    EXPECT_GT(engine.stats.iterations, 0u) << engine.device << " decoded nothing";
}

}  // namespace
}  // namespace glmasr
