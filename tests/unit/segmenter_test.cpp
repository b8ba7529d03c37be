#include "pipeline/segmenter.h"

#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

constexpr int kRate = 16000;
constexpr int64_t kMaxSamples = 30 * kRate;

struct Interval {
  int64_t begin, end;
};

void expect_valid_cover(const std::vector<AudioSegment>& segments, int64_t total) {
  ASSERT_FALSE(segments.empty());
  EXPECT_EQ(segments.front().begin, 0);
  EXPECT_EQ(segments.back().end, total);
  for (size_t i = 0; i < segments.size(); ++i) {
    const auto& segment = segments[i];
    EXPECT_LT(segment.begin, segment.end) << "segment " << i;
    EXPECT_LE(segment.end - segment.begin, kMaxSamples) << "segment " << i;
    EXPECT_DOUBLE_EQ(segment.start_seconds, static_cast<double>(segment.begin) / kRate);
    EXPECT_DOUBLE_EQ(segment.end_seconds, static_cast<double>(segment.end) / kRate);
    if (i > 0) {
      EXPECT_EQ(segment.begin, segments[i - 1].end) << "segments are contiguous";
      EXPECT_GT(segment.start_seconds, segments[i - 1].start_seconds) << "boundaries increase";
    }
    // Every cut but the last lies within the search window before the 30 s limit.
    if (i + 1 < segments.size()) EXPECT_GE(segment.end - segment.begin, 25 * kRate) << i;
  }
}

void append_silence(std::vector<float>& audio, double seconds, std::mt19937& rng) {
  std::normal_distribution<float> noise(0.0f, 1e-4f);  // a faint noise floor, not digital zero
  for (int64_t i = 0; i < std::llround(seconds * kRate); ++i) audio.push_back(noise(rng));
}

TEST(Segmenter, ShortAndEmptyInput) {
  EXPECT_TRUE(segment_audio(std::vector<float>{}).empty());
  std::vector<float> audio(10 * kRate, 0.1f);
  const auto segments = segment_audio(audio);
  ASSERT_EQ(segments.size(), 1u);
  EXPECT_EQ(segments[0].end, 10 * kRate);
  // Exactly 30 s is still one window.
  EXPECT_EQ(segment_audio(std::vector<float>(kMaxSamples, 0.1f)).size(), 1u);
  EXPECT_EQ(segment_audio(std::vector<float>(kMaxSamples + 1, 0.1f)).size(), 2u);
}

TEST(Segmenter, CutsFallInPausesBetweenToneBursts) {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<double> burst_length(1.0, 3.5), pause_length(0.25, 0.8),
      frequency(200.0, 1200.0);
  std::vector<float> audio;
  std::vector<Interval> pauses;
  while (audio.size() < 200u * kRate) {
    const double hz = frequency(rng);
    const int64_t burst = std::llround(burst_length(rng) * kRate);
    for (int64_t i = 0; i < burst; ++i)
      audio.push_back(0.3f * static_cast<float>(std::sin(2 * M_PI * hz * i / kRate)));
    const int64_t pause_begin = static_cast<int64_t>(audio.size());
    append_silence(audio, pause_length(rng), rng);
    pauses.push_back({pause_begin, static_cast<int64_t>(audio.size())});
  }
  const auto segments = segment_audio(audio);
  expect_valid_cover(segments, static_cast<int64_t>(audio.size()));
  EXPECT_GE(segments.size(), 7u);
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    const int64_t cut = segments[i].end;
    bool in_pause = false;
    for (const auto& pause : pauses) in_pause |= cut >= pause.begin && cut <= pause.end;
    EXPECT_TRUE(in_pause) << "cut at " << static_cast<double>(cut) / kRate << " s splits a burst";
  }
  for (const auto& segment : segments) EXPECT_FALSE(segment.silent);
}

TEST(Segmenter, MarksSegmentsOfPureSilence) {
  std::mt19937 rng(7);
  std::vector<float> audio;
  for (int i = 0; i < 20 * kRate; ++i)
    audio.push_back(0.3f * std::sin(2 * M_PI * 440.0 * i / kRate));
  append_silence(audio, 70.0, rng);
  for (int i = 0; i < 10 * kRate; ++i)
    audio.push_back(0.3f * std::sin(2 * M_PI * 440.0 * i / kRate));
  const auto segments = segment_audio(audio);
  expect_valid_cover(segments, static_cast<int64_t>(audio.size()));
  ASSERT_EQ(segments.size(), 4u);
  EXPECT_FALSE(segments[0].silent);  // 20 s of tone, then silence up to the cut
  EXPECT_TRUE(segments[1].silent);
  EXPECT_TRUE(segments[2].silent);
  EXPECT_FALSE(segments.back().silent);
}

TEST(Segmenter, RejectsInconsistentOptions) {
  std::vector<float> audio(100, 0.0f);
  EXPECT_THROW(segment_audio(audio, {.sample_rate = 0}), Error);
  EXPECT_THROW(segment_audio(audio, {.max_segment_seconds = 30, .search_seconds = 30}), Error);
  EXPECT_THROW(segment_audio(audio, {.frame_seconds = 0}), Error);
}

std::vector<float> read_mono_16k(const std::string& path) {
  SF_INFO info{};
  SNDFILE* file = sf_open(path.c_str(), SFM_READ, &info);
  if (!file) return {};
  std::vector<float> samples(static_cast<size_t>(info.frames) * info.channels);
  sf_readf_float(file, samples.data(), info.frames);
  sf_close(file);
  EXPECT_EQ(info.samplerate, kRate);
  EXPECT_EQ(info.channels, 1);
  return samples;
}

double rms(const std::vector<float>& audio, int64_t begin, int64_t end) {
  begin = std::max<int64_t>(0, begin);
  end = std::min<int64_t>(static_cast<int64_t>(audio.size()), end);
  double sum = 0;
  for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(audio[i]) * audio[i];
  return std::sqrt(sum / static_cast<double>(end - begin));
}

// 2.5 minutes of real speech: jfk.wav repeated with pauses of varying length, so the 30 s limit
// falls sometimes near an inserted pause and sometimes in the middle of the sentence.
TEST(Segmenter, CutsLongSpeechBetweenWords) {
  const std::string shared = testing::shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found";
  const std::vector<float> jfk = read_mono_16k(shared + "/audio/jfk.wav");
  ASSERT_GT(jfk.size(), 10u * kRate);
  std::mt19937 rng(11);
  std::vector<float> audio;
  const double pauses[] = {0.4, 1.0, 0.3, 2.0, 0.5, 0.7, 1.5, 0.35, 0.9, 0.6, 1.2, 0.45, 0.8, 0.3};
  for (double pause : pauses) {
    if (audio.size() >= 150u * kRate) break;
    audio.insert(audio.end(), jfk.begin(), jfk.end());
    append_silence(audio, pause, rng);
  }
  ASSERT_GE(audio.size(), 150u * kRate);
  const auto segments = segment_audio(audio);
  expect_valid_cover(segments, static_cast<int64_t>(audio.size()));
  EXPECT_GE(segments.size(), 6u);
  const double speech_rms = rms(jfk, 0, static_cast<int64_t>(jfk.size()));
  for (size_t i = 0; i + 1 < segments.size(); ++i) {
    const int64_t cut = segments[i].end;
    // The 80 ms around a cut are a pause: far quieter than the speech on average.
    const double local = rms(audio, cut - kRate / 25, cut + kRate / 25);
    EXPECT_LT(local, 0.1 * speech_rms)
        << "cut at " << static_cast<double>(cut) / kRate << " s: local RMS " << local
        << " versus speech " << speech_rms;
  }
  // The check can fail: cutting blindly every 30 s lands inside a word somewhere.
  int blind_cuts_in_words = 0;
  for (int64_t cut = kMaxSamples; cut < static_cast<int64_t>(audio.size()); cut += kMaxSamples)
    blind_cuts_in_words += rms(audio, cut - kRate / 25, cut + kRate / 25) >= 0.1 * speech_rms;
  EXPECT_GE(blind_cuts_in_words, 1);
}

}  // namespace
}  // namespace glmasr
