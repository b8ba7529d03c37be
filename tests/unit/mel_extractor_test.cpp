// The log-mel front end: filter bank, agreement with a direct double-precision DFT reference,
// window splitting, valid-frame counts, the window cap and the too-short check.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "audio/features.h"
#include "audio/mel.h"
#include "core/error.h"
#include "model/audio_tokens.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

constexpr int kBins = 201;

std::vector<float> sine(double hertz, int64_t count, double amplitude = 0.5) {
  std::vector<float> samples(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i)
    samples[i] = static_cast<float>(amplitude * std::sin(2 * std::numbers::pi * hertz * i / 16000));
  return samples;
}

std::vector<float> noise(int64_t count, unsigned seed) {
  return testing::gaussian_noise(count, seed);
}

std::string error_message(auto&& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(MelScale, SlaneyBreakpointsAndInverse) {
  EXPECT_DOUBLE_EQ(hertz_to_mel_slaney(0.0), 0.0);
  EXPECT_DOUBLE_EQ(hertz_to_mel_slaney(500.0), 7.5);  // linear part: 3 f / 200
  EXPECT_DOUBLE_EQ(hertz_to_mel_slaney(1000.0), 15.0);
  EXPECT_NEAR(hertz_to_mel_slaney(8000.0), 45.245640471924965, 1e-12);
  for (double hertz : {10.0, 999.0, 1000.0, 3210.5, 8000.0})
    EXPECT_NEAR(mel_to_hertz_slaney(hertz_to_mel_slaney(hertz)), hertz, 1e-9 * hertz);
}

TEST(MelFilterBank, TrianglesPeakAtTheirCentresWithSlaneyArea) {
  const std::vector<double> bank = slaney_mel_filter_bank(128);
  ASSERT_EQ(bank.size(), 128u * kBins);
  const double mel_step = hertz_to_mel_slaney(8000.0) / 129.0;
  for (int m = 0; m < 128; ++m) {
    const double* row = &bank[m * kBins];
    EXPECT_TRUE(std::all_of(row, row + kBins, [](double v) { return v >= 0; })) << m;
    const int peak = static_cast<int>(std::max_element(row, row + kBins) - row);
    const double centre = mel_to_hertz_slaney((m + 1) * mel_step);
    EXPECT_LE(std::fabs(peak * 40.0 - centre), 40.0) << m;  // FFT bins are 40 Hz apart
    // Zero outside its edges.
    const double low = mel_to_hertz_slaney(m * mel_step),
                 high = mel_to_hertz_slaney((m + 2) * mel_step);
    for (int k = 0; k < kBins; ++k) {
      if (k * 40.0 <= low || k * 40.0 >= high) {
        EXPECT_EQ(row[k], 0.0) << m << " " << k;
      }
    }
    // Slaney normalisation makes each triangle's area 1; wide (high) filters sample it well.
    if (high - low > 400.0) {
      double area = 0;
      for (int k = 0; k < kBins; ++k) area += row[k] * 40.0;
      EXPECT_NEAR(area, 1.0, 0.02) << m;
    }
  }
}

// Direct evaluation of spec section 7 in double precision: O(N^2) DFT per frame.
std::vector<double> reference_log_mel(const std::vector<float>& samples) {
  const int64_t n = static_cast<int64_t>(samples.size());
  std::vector<double> signal(kWindowSamples, 0.0);
  for (int64_t i = 0; i < n; ++i) signal[i] = samples[i];
  auto padded = [&](int64_t i) {  // reflect padding of 200 at both ends
    int64_t j = i - 200;
    if (j < 0) j = -j;
    if (j >= kWindowSamples) j = 2 * (kWindowSamples - 1) - j;
    return signal[j];
  };
  std::vector<double> cosines(400 * kBins), sines(400 * kBins);
  for (int k = 0; k < kBins; ++k)
    for (int t = 0; t < 400; ++t) {
      cosines[k * 400 + t] = std::cos(2 * std::numbers::pi * k * t / 400);
      sines[k * 400 + t] = std::sin(2 * std::numbers::pi * k * t / 400);
    }
  const std::vector<double> bank = slaney_mel_filter_bank(128);
  std::vector<double> out(128 * 3000);
  std::vector<double> frame(400), power(kBins);
  for (int f = 0; f < 3000; ++f) {
    for (int t = 0; t < 400; ++t)
      frame[t] = padded(f * 160 + t) * (0.5 - 0.5 * std::cos(2 * std::numbers::pi * t / 400));
    for (int k = 0; k < kBins; ++k) {
      double re = 0, im = 0;
      for (int t = 0; t < 400; ++t) {
        re += frame[t] * cosines[k * 400 + t];
        im -= frame[t] * sines[k * 400 + t];
      }
      power[k] = re * re + im * im;
    }
    for (int m = 0; m < 128; ++m) {
      double mel = 0;
      for (int k = 0; k < kBins; ++k) mel += bank[m * kBins + k] * power[k];
      out[m * 3000 + f] = std::log10(std::max(mel, 1e-10));
    }
  }
  const double top = *std::max_element(out.begin(), out.end());
  for (double& v : out) v = (std::max(v, top - 8.0) + 4.0) / 4.0;
  return out;
}

void expect_matches_reference(const std::vector<float>& samples, const char* what) {
  const FloatTensor ours =
      LogMelExtractor().compute_window(samples.data(), static_cast<int64_t>(samples.size()));
  ASSERT_EQ(ours.shape(), (Shape{128, 3000}));
  const std::vector<double> reference = reference_log_mel(samples);
  double worst = 0;
  for (size_t i = 0; i < reference.size(); ++i)
    worst = std::max(worst, std::fabs(ours[static_cast<int64_t>(i)] - reference[i]));
  EXPECT_LT(worst, 1e-4) << what;
}

TEST(LogMelExtractor, MatchesDirectDftOnShortAudio) {
  std::vector<float> samples = noise(40000, 1);  // 2.5 s: the zero padding shows in the tail
  const std::vector<float> tone = sine(1234.0, 40000);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] += tone[i];
  expect_matches_reference(samples, "2.5 s of noise + tone");
}

// A full window reflects real samples at the right edge, not zeros.
TEST(LogMelExtractor, MatchesDirectDftOnAFullWindow) {
  std::vector<float> samples = sine(300.0, kWindowSamples, 0.3);
  const std::vector<float> hiss = noise(kWindowSamples, 2);
  for (size_t i = 0; i < samples.size(); ++i) samples[i] += 0.1f * hiss[i];
  // A burst in the last 100 samples: only visible in the last frames through reflection.
  for (int64_t i = kWindowSamples - 100; i < kWindowSamples; ++i) samples[i] = 0.9f;
  expect_matches_reference(samples, "full 30 s window");
}

// A tone at the centre frequency of mel filter m lands in bin m. Filters below ~1 kHz are
// narrower than the Hann window's main lobe (+-80 Hz), so the tones start at 1 kHz.
TEST(LogMelExtractor, PureSinePeaksInTheRightMelBin) {
  const LogMelExtractor extractor;
  const double mel_step = hertz_to_mel_slaney(8000.0) / 129.0;
  for (int target : {45, 60, 80, 100, 120}) {
    const double hertz = mel_to_hertz_slaney((target + 1) * mel_step);
    const std::vector<float> samples = sine(hertz, 16000);
    const FloatTensor mel = extractor.compute_window(samples.data(), 16000);
    for (int64_t frame : {10, 50, 90}) {  // inside the 1 s of audio
      int64_t best = 0;
      for (int64_t m = 1; m < 128; ++m)
        if (mel[m * 3000 + frame] > mel[best * 3000 + frame]) best = m;
      EXPECT_EQ(best, target) << hertz << " Hz, frame " << frame;
    }
  }
}

// Zero padding after the audio is steady silence: the log floor clamped to max - 8, i.e.
// exactly 2 below the window's largest value after (x + 4) / 4.
TEST(LogMelExtractor, PaddingFramesSitAtTheDynamicRangeFloor) {
  const std::vector<float> samples = noise(16000, 3);
  const FloatTensor mel = LogMelExtractor().compute_window(samples.data(), 16000);
  const float top = *std::max_element(mel.values().begin(), mel.values().end());
  for (int64_t m : {0, 64, 127})
    for (int64_t frame : {103, 1500, 2999}) EXPECT_FLOAT_EQ(mel[m * 3000 + frame], top - 2.0f);
}

TEST(LogMelExtractor, EmptyAudioIsOneSilentWindow) {
  const MelWindows mel = LogMelExtractor().compute({});
  ASSERT_EQ(mel.windows(), 1);
  EXPECT_EQ(mel.valid_frames[0], 0);
  EXPECT_TRUE(std::all_of(mel.features.values().begin(), mel.features.values().end(),
                          [](float v) { return v == -1.5f; }));  // (log10(1e-10) + 4) / 4
}

struct LengthCase {
  int64_t samples;
  std::vector<int64_t> frames;
};

TEST(LogMelExtractor, WindowCountsAndValidFrames) {
  const LogMelExtractor extractor;
  const std::vector<LengthCase> cases = {
      {16000, {100}},               // 1 s
      {176000, {1100}},             // 11 s
      {480000, {3000}},             // 30 s: exactly one window
      {480160, {3000, 1}},          // 30.01 s
      {976000, {3000, 3000, 100}},  // 61 s
      {16001, {101}},               // ceil: one extra sample is one more frame
  };
  for (const LengthCase& c : cases) {
    const MelWindows mel = extractor.compute(noise(c.samples, 4));
    EXPECT_EQ(mel.valid_frames, c.frames) << c.samples;
    EXPECT_EQ(mel.features.shape(), (Shape{mel.windows(), 128, 3000})) << c.samples;
  }
}

// Each window is computed independently from its own 30 s slice, zero-padded.
TEST(LogMelExtractor, WindowsAreIndependentSlices) {
  const std::vector<float> samples = noise(480000 + 32000, 5);
  const LogMelExtractor extractor;
  const MelWindows mel = extractor.compute(samples);
  ASSERT_EQ(mel.windows(), 2);
  const FloatTensor first = extractor.compute_window(samples.data(), 480000);
  const FloatTensor second = extractor.compute_window(samples.data() + 480000, 32000);
  const int64_t size = 128 * 3000;
  EXPECT_TRUE(std::equal(first.values().begin(), first.values().end(), mel.features.data()));
  EXPECT_TRUE(
      std::equal(second.values().begin(), second.values().end(), mel.features.data() + size));
}

TEST(LogMelExtractor, ThreadsGiveIdenticalResults) {
  const std::vector<float> samples = noise(3 * 480000 + 1000, 6);
  const MelWindows serial = LogMelExtractor(128, 1).compute(samples);
  const MelWindows parallel = LogMelExtractor(128, 3).compute(samples);
  EXPECT_EQ(parallel.valid_frames, serial.valid_frames);
  EXPECT_EQ(parallel.features.values(), serial.features.values());
}

TEST(LogMelExtractor, RejectsAudioBeyondTheWindowCap) {
  const LogMelExtractor extractor;
  const std::vector<float> long_audio(700 * 16000, 0.0f);
  const std::string message = error_message([&] { extractor.compute(long_audio); });
  EXPECT_NE(message.find("audio is 700.0 s; one request takes at most 630 s (21 windows of 30 s)"),
            std::string::npos)
      << message;
  // 630 s + 1 sample needs a 22nd window.
  const std::vector<float> just_over(630 * 16000 + 1, 0.0f);
  EXPECT_THROW(extractor.compute(just_over), Error);
  // The cap is a parameter: 60 s fit in two windows, 60 s + 1 sample does not.
  EXPECT_EQ(extractor.compute(std::vector<float>(960000, 0.1f), 2).windows(), 2);
  EXPECT_NE(error_message([&] {
              extractor.compute(std::vector<float>(960001), 2);
            }).find("at most 60 s (2 windows of 30 s)"),
            std::string::npos);
}

TEST(LogMelExtractor, RejectsOversizedWindowAndBadBinCount) {
  const LogMelExtractor extractor;
  const std::vector<float> samples(480001);
  EXPECT_THROW(extractor.compute_window(samples.data(), 480001), Error);
  EXPECT_THROW(LogMelExtractor(0), Error);
}

TEST(LogMelExtractor, EightyBinsWork) {
  const std::vector<float> samples = sine(1000.0, 16000);
  const FloatTensor mel = LogMelExtractor(80).compute_window(samples.data(), 16000);
  EXPECT_EQ(mel.shape(), (Shape{80, 3000}));
}

TEST(WindowsForSamples, CeilWithAtLeastOne) {
  EXPECT_EQ(windows_for_samples(0), 1);
  EXPECT_EQ(windows_for_samples(1), 1);
  EXPECT_EQ(windows_for_samples(480000), 1);
  EXPECT_EQ(windows_for_samples(480001), 2);
  EXPECT_EQ(windows_for_samples(21 * 480000), 21);
}

TEST(AudioTokenCheck, MinimumIsSevenFrames) {
  EXPECT_EQ(min_samples_for_audio_token(4), 961);  // 7 frames -> 4 after conv2 -> 1 token
  EXPECT_EQ(audio_tokens_for_frames(valid_mel_frames(961), 4), 1);
  EXPECT_EQ(audio_tokens_for_frames(valid_mel_frames(960), 4), 0);
  EXPECT_EQ(min_samples_for_audio_token(1), 1);
  EXPECT_EQ(min_samples_for_audio_token(2), 2 * 160 + 1);  // 3 frames -> 2 after conv2
}

TEST(AudioTokenCheck, TooShortAudioSaysLengthAndMinimum) {
  const std::string message = error_message([] { check_audio_yields_tokens(800, "click.wav"); });
  EXPECT_NE(message.find("click.wav"), std::string::npos) << message;
  EXPECT_NE(message.find("0.0500 s"), std::string::npos) << message;
  EXPECT_NE(message.find("0.0601 s"), std::string::npos) << message;
  EXPECT_NE(message.find("961 samples"), std::string::npos) << message;
  EXPECT_THROW(check_audio_yields_tokens(0, "empty"), Error);
  EXPECT_THROW(check_audio_yields_tokens(960, "x"), Error);
  EXPECT_NO_THROW(check_audio_yields_tokens(961, "x"));
  EXPECT_NO_THROW(check_audio_yields_tokens(10 * 480000, "x"));
}

}  // namespace
}  // namespace glmasr
