// Long-form transcription on the GPU against the CPU path (issue 5): a 2.6-minute file gives the
// same segments, and the same tokens up to the first step whose CPU top-2 margin is within bf16
// noise.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "audio/audio_file.h"
#include "audio/features.h"
#include "audio/mel.h"
#include "engine/engine_factory.h"
#include "model/audio_tokens.h"
#include "pipeline/transcriber.h"
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

TEST(LongFormGpu, SameSegmentsAndTokensAsTheCpuPath) {
  GLMASR_SKIP_WITHOUT_GPU();
  if (testing::shared_dir().empty()) GTEST_SKIP() << "../shared/audio not found";
  const std::string model = testing::data_dir() + "/tiny";
  const Audio jfk = read_audio(testing::shared_dir() + "/audio/jfk.wav");
  Audio long_audio{{}, kSampleRate, 1, "long"};
  while (long_audio.samples.size() < 160 * kSampleRate) {
    long_audio.samples.insert(long_audio.samples.end(), jfk.samples.begin(), jfk.samples.end());
    long_audio.samples.insert(long_audio.samples.end(), 24000, 0.0f);
  }
  const Tokenizer tokenizer = Tokenizer::from_file(model + "/tokenizer.json");
  auto cpu = create_engine(model, EngineOptions{.device = "cpu"});
  auto gpu = create_engine(model, EngineOptions{.device = "cuda", .max_batch = 4});
  TranscribeOptions options;
  options.max_new_tokens = 8;
  options.loop_guard = false;
  EngineLoop cpu_loop(*cpu, 4), gpu_loop(*gpu, 4);
  const auto on_cpu = Transcriber(cpu_loop, tokenizer, options).transcribe_audio({long_audio});
  const auto on_gpu = Transcriber(gpu_loop, tokenizer, options).transcribe_audio({long_audio});
  ASSERT_TRUE(on_cpu[0].transcript) << on_cpu[0].error;
  ASSERT_TRUE(on_gpu[0].transcript) << on_gpu[0].error;
  const auto& a = on_cpu[0].transcript->segments;
  const auto& b = on_gpu[0].transcript->segments;
  ASSERT_EQ(a.size(), b.size());
  ASSERT_GE(a.size(), 6u);

  const LogMelExtractor mel_extractor(cpu->config().encoder.num_mel_bins);
  for (size_t s = 0; s < a.size(); ++s) {
    EXPECT_DOUBLE_EQ(a[s].start, b[s].start) << "segment " << s;
    EXPECT_DOUBLE_EQ(a[s].end, b[s].end) << "segment " << s;
    size_t same = 0;
    while (same < std::min(a[s].tokens.size(), b[s].tokens.size()) &&
           a[s].tokens[same] == b[s].tokens[same])
      ++same;
    if (same == a[s].tokens.size() && same == b[s].tokens.size()) continue;
    // They part at step `same`: the CPU's margin there must be within bf16 noise.
    const auto begin = static_cast<int64_t>(a[s].start * kSampleRate);
    const auto end = static_cast<int64_t>(a[s].end * kSampleRate);
    const std::vector<float> samples(long_audio.samples.begin() + begin,
                                     long_audio.samples.begin() + end);
    const MelWindows mel = mel_extractor.compute(samples);
    int64_t audio_tokens = 0;
    for (int64_t frames : mel.valid_frames)
      audio_tokens += audio_tokens_for_frames(frames, cpu->config().encoder.merge_factor);
    const auto prompt = build_prompt_ids(tokenizer, audio_tokens, options.prompt_text,
                                         cpu->config().audio_token_id);
    const std::vector<int32_t> forced(a[s].tokens.begin(), a[s].tokens.begin() + same);
    const FloatTensor logits = cpu->teacher_forced_logits(mel, prompt, forced);
    const int64_t vocab = logits.dim(1);
    EXPECT_LT(top2_margin(logits.data() + same * vocab, vocab), kBf16MarginNoise)
        << "segment " << s << " parts at step " << same << " where the CPU margin is clear";
  }
}

}  // namespace
}  // namespace glmasr
