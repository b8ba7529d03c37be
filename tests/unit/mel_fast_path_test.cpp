// compute_window skips the frames that lie entirely in the zero padding and spreads the rest over
// the extractor's threads; both must give exactly the values of the straightforward computation
// (compute_window_reference: every frame transformed, one thread), at every length where the
// reflect padding or the edge of the zero padding changes which frames are skipped.
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "audio/features.h"
#include "audio/mel.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

std::vector<float> noise(int64_t count, unsigned seed) {
  return testing::gaussian_noise(count, seed);
}

// Bitwise, so that -0 and +0 or two NaNs of different payload would also count as different.
bool bitwise_equal(const FloatTensor& a, const FloatTensor& b) {
  return a.shape() == b.shape() &&
         std::memcmp(a.data(), b.data(), static_cast<size_t>(a.numel()) * sizeof(float)) == 0;
}

std::vector<int64_t> edge_counts() {
  std::vector<int64_t> counts = {0, 1, 2, 199, 200, 201, 399, 400, 401, 16000, 144000};
  for (const int64_t k : {1, 2, 3, 900, 1500, 2997, 2998, 2999})
    for (const int64_t d : {-1, 0, 1}) counts.push_back(160 * k + d);
  // Where the tail's reflection starts to mirror audio instead of zeros (count > 479 799).
  for (const int64_t c : {479600, 479639, 479640, 479641, 479798, 479799, 479800, 479801, 479840,
                          479960, 479998, 479999, 480000})
    counts.push_back(c);
  return counts;
}

TEST(LogMelFastPath, BitIdenticalToTheFullComputationAtEveryEdge) {
  const std::vector<float> samples = noise(kWindowSamples, 11);
  const LogMelExtractor serial(128, 1), threaded(128, 3);
  for (const int64_t count : edge_counts()) {
    const FloatTensor reference = serial.compute_window_reference(samples.data(), count);
    EXPECT_TRUE(bitwise_equal(serial.compute_window(samples.data(), count), reference)) << count;
    EXPECT_TRUE(bitwise_equal(threaded.compute_window(samples.data(), count), reference)) << count;
  }
}

// The last frames (2998, 2999) reach past the window's end, where the reflection mirrors samples
// 479 959..479 998 back in: audio there must show in them exactly as the full computation has it.
TEST(LogMelFastPath, TheTailReflectionReachesTheLastFrames) {
  std::vector<float> samples(kWindowSamples, 0.0f);
  for (int64_t i = 479959; i < 479999; ++i) samples[i] = 0.5f;
  const LogMelExtractor extractor(128, 2);
  const FloatTensor fast = extractor.compute_window(samples.data(), kWindowSamples);
  EXPECT_TRUE(
      bitwise_equal(fast, extractor.compute_window_reference(samples.data(), kWindowSamples)));
  // Frame 2999 holds the samples and their mirror image: more energy than frame 2997 holds.
  EXPECT_GT(fast[2999], fast[2997]);
}

// Silence inside the audio is not padding: the zero frames there must come out as the full
// computation gives them too (they are skipped the same way).
TEST(LogMelFastPath, DigitalSilenceAndQuietAudioMatchTheFullComputation) {
  std::vector<float> samples = noise(200000, 12);
  std::fill(samples.begin() + 50000, samples.begin() + 90000, 0.0f);
  std::fill(samples.begin() + 120000, samples.begin() + 120100, -0.0f);
  for (size_t i = 150000; i < 160000; ++i) samples[i] = 1e-30f;  // tiny, not zero
  const LogMelExtractor extractor(128, 2);
  for (const int64_t count : {int64_t{90000}, int64_t{90199}, int64_t{200000}})
    EXPECT_TRUE(bitwise_equal(extractor.compute_window(samples.data(), count),
                              extractor.compute_window_reference(samples.data(), count)))
        << count;
}

TEST(LogMelFastPath, ResultDoesNotDependOnTheThreadCount) {
  const std::vector<float> samples = noise(2 * kWindowSamples + 144000, 13);
  const MelWindows one = LogMelExtractor(128, 1).compute(samples);
  for (const int threads : {2, 3, 4, 7}) {
    const MelWindows many = LogMelExtractor(128, threads).compute(samples);
    EXPECT_EQ(many.valid_frames, one.valid_frames) << threads;
    EXPECT_TRUE(bitwise_equal(many.features, one.features)) << threads;
  }
  // Each window as the reference computes it alone.
  const int64_t size = 128 * kWindowFrames;
  for (int64_t w = 0; w < 3; ++w) {
    const int64_t count = std::min(kWindowSamples, int64_t(samples.size()) - w * kWindowSamples);
    const FloatTensor reference =
        LogMelExtractor().compute_window_reference(samples.data() + w * kWindowSamples, count);
    EXPECT_EQ(std::memcmp(reference.data(), one.features.data() + w * size, size * sizeof(float)),
              0)
        << w;
  }
}

TEST(LogMelFastPath, EightyBinsMatchTheFullComputation) {
  const std::vector<float> samples = noise(100001, 14);
  const LogMelExtractor extractor(80, 2);
  EXPECT_TRUE(bitwise_equal(extractor.compute_window(samples.data(), 100001),
                            extractor.compute_window_reference(samples.data(), 100001)));
}

}  // namespace
}  // namespace glmasr
