// Channel mixdown and soxr resampling on their own.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "audio/audio_file.h"
#include "audio/resample.h"
#include "core/error.h"

namespace glmasr {
namespace {

TEST(MixToMono, AveragesEachFrame) {
  EXPECT_EQ(mix_to_mono({1.0f, 0.0f, 0.5f, -0.5f, 0.25f, 0.75f}, 2),
            (std::vector<float>{0.5f, 0.0f, 0.5f}));
  EXPECT_EQ(mix_to_mono({0.3f, 0.6f, 0.9f}, 3), (std::vector<float>{0.6f}));
  EXPECT_EQ(mix_to_mono({0.1f, 0.2f}, 1), (std::vector<float>{0.1f, 0.2f}));
}

TEST(MixToMono, RejectsPartialFramesAndZeroChannels) {
  EXPECT_THROW(mix_to_mono({1, 2, 3}, 2), Error);
  EXPECT_THROW(mix_to_mono({1, 2}, 0), Error);
}

TEST(Resample, LengthRoundsUpLikeLibrosa) {
  EXPECT_EQ(resampled_length(48000, 48000, 16000), 16000);
  EXPECT_EQ(resampled_length(48001, 48000, 16000), 16001);
  EXPECT_EQ(resampled_length(3, 24000, 16000), 2);
  EXPECT_EQ(resampled_length(44100, 44100, 16000), 16000);
  EXPECT_EQ(resampled_length(1, 44100, 16000), 1);
  EXPECT_EQ(resampled_length(8000, 8000, 16000), 16000);
  EXPECT_THROW(resampled_length(10, 0, 16000), Error);
}

TEST(Resample, SameRateIsIdentity) {
  const std::vector<float> samples = {0.1f, -0.2f, 0.3f};
  EXPECT_EQ(resample(samples, 16000, 16000), samples);
}

std::vector<float> sine(double hertz, int rate, int count) {
  std::vector<float> samples(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i)
    samples[i] = static_cast<float>(0.5 * std::sin(2 * std::numbers::pi * hertz * i / rate));
  return samples;
}

// Each rate keeps a 440 Hz tone: the output matches the ideal 16 kHz sine away from the edges.
TEST(Resample, ToneSurvivesCommonRates) {
  for (int rate : {8000, 22050, 44100, 48000}) {
    const std::vector<float> out = to_model_rate(sine(440, rate, rate), 1, rate);
    ASSERT_EQ(out.size(), 16000u) << rate;
    const std::vector<float> ideal = sine(440, 16000, 16000);
    double worst = 0;
    for (size_t i = 2000; i < 14000; ++i)
      worst = std::max(worst, std::fabs(static_cast<double>(out[i]) - ideal[i]));
    EXPECT_LT(worst, 2e-3) << rate;
  }
}

// A tone above 8 kHz cannot exist at 16 kHz: the anti-aliasing filter removes it.
TEST(Resample, RemovesContentAboveNyquist) {
  const std::vector<float> out = resample(sine(10000, 48000, 48000), 48000, 16000);
  double energy = 0;
  for (size_t i = 2000; i < 14000; ++i) energy += static_cast<double>(out[i]) * out[i];
  EXPECT_LT(std::sqrt(energy / 12000), 1e-3);
}

}  // namespace
}  // namespace glmasr
