// Log-mel features against transformers' WhisperFeatureExtractor (the processor's output saved
// by tools/make_fixtures.py on the GPU machine). 16 kHz inputs need no resampler, so the
// comparison is exact up to float rounding: max abs error <= 5e-4.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "audio/audio_file.h"
#include "audio/mel.h"
#include "io/safetensors.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

constexpr double kExactTolerance = 5e-4;
// soxr versus torchaudio's sinc resampler: different filters, so only a sanity bound.
constexpr double kResamplerTolerance = 0.05;

struct GoldenMel {
  FloatTensor features;
  std::vector<int64_t> window_frames;  // empty when the file has none
};

std::string golden_path(const std::string& name) {
  return testing::data_dir() + "/golden/" + name;
}

GoldenMel load_golden(const std::string& path, const std::string& tensor_name) {
  const SafetensorsFile file(path);
  GoldenMel golden;
  golden.features = to_float(file.view(tensor_name), path + ":" + tensor_name);
  if (file.contains("window_frames"))
    golden.window_frames = to_int64(file.view("window_frames"), path + ":window_frames");
  return golden;
}

std::vector<float> read_shared_audio(const std::string& name) {
  return read_audio(testing::shared_dir() + "/audio/" + name).samples;
}

// jfk + 0.5 s silence + jfk + 0.5 s silence + jfk, as tools/glmasr_reference.py builds it.
std::vector<float> two_window_samples(const std::vector<float>& jfk) {
  std::vector<float> samples;
  const std::vector<float> gap(8000, 0.0f);
  for (int i = 0; i < 3; ++i) {
    samples.insert(samples.end(), jfk.begin(), jfk.end());
    if (i < 2) samples.insert(samples.end(), gap.begin(), gap.end());
  }
  return samples;
}

// Ours versus the golden tensor: shapes, valid frames (when the golden has them) and the
// largest absolute difference, which is returned for the caller's tolerance.
double compare_mel(const MelWindows& ours, const GoldenMel& golden, const std::string& what) {
  EXPECT_EQ(ours.features.shape(), golden.features.shape()) << what;
  if (!golden.window_frames.empty()) EXPECT_EQ(ours.valid_frames, golden.window_frames) << what;
  if (ours.features.shape() != golden.features.shape()) return INFINITY;
  const double error = testing::max_abs_error(ours.features, golden.features);
  std::printf("[ mel golden ] %s: max abs error %.3g, relative error %.3g\n", what.c_str(), error,
              testing::relative_error(ours.features, golden.features));
  return error;
}

// Skips the calling test when a fixture is absent (made by tools/make_fixtures.py).
#define SKIP_UNLESS_EXISTS(path)                                                         \
  if (!std::filesystem::exists(path))                                                    \
  GTEST_SKIP() << "missing " << (path) << " (made by tools/make_fixtures.py on the GPU " \
               << "machine)"

#define SKIP_WITHOUT_SHARED_AUDIO()  \
  if (testing::shared_dir().empty()) \
  GTEST_SKIP() << "no ../shared directory (set GLMASR_SHARED_DIR): real audio unavailable"

TEST(MelGolden, JfkSingleWindowMatchesTransformers) {
  const std::string path = golden_path("tiny_jfk.safetensors");
  SKIP_UNLESS_EXISTS(path);
  SKIP_WITHOUT_SHARED_AUDIO();
  const MelWindows ours = LogMelExtractor().compute(read_shared_audio("jfk.wav"));
  EXPECT_LE(compare_mel(ours, load_golden(path, "input_features"), "jfk.wav"), kExactTolerance);
}

TEST(MelGolden, TwoWindowsMatchTransformers) {
  const std::string path = golden_path("tiny_two_window.safetensors");
  SKIP_UNLESS_EXISTS(path);
  SKIP_WITHOUT_SHARED_AUDIO();
  const std::vector<float> samples = two_window_samples(read_shared_audio("jfk.wav"));
  ASSERT_EQ(samples.size(), 3u * 176000u + 16000u);
  const MelWindows ours = LogMelExtractor().compute(samples);
  EXPECT_LE(compare_mel(ours, load_golden(path, "input_features"), "jfk x3 (two windows)"),
            kExactTolerance);
}

TEST(MelGolden, LibrispeechFlacMatchesTransformers) {
  const std::string path = golden_path("mel_reference.safetensors");
  SKIP_UNLESS_EXISTS(path);
  SKIP_WITHOUT_SHARED_AUDIO();
  const MelWindows ours = LogMelExtractor().compute(read_shared_audio("1272-128104-0000.flac"));
  EXPECT_LE(compare_mel(ours, load_golden(path, "librispeech"), "1272-128104-0000.flac"),
            kExactTolerance);
}

// The two resamplers have different anti-aliasing filters: torchaudio's short windowed sinc
// (width 6, rolloff 0.99) starts attenuating near 6 kHz, soxr HQ keeps its passband to ~7.3 kHz.
// So the top mel bins differ by up to ~0.5 (log10 units / 4) and only the bins wholly below
// 6 kHz are held to the 0.05 bound; the full-range maximum is printed for the record.
TEST(MelGolden, Libritts24kThroughSoxrIsCloseToTorchaudio) {
  const std::string path = golden_path("mel_reference.safetensors");
  SKIP_UNLESS_EXISTS(path);
  SKIP_WITHOUT_SHARED_AUDIO();
  const MelWindows ours =
      LogMelExtractor().compute(read_shared_audio("1089_134686_000007_000004.wav"));
  const GoldenMel golden = load_golden(path, "libritts_24k_torchaudio");
  const double full_range = compare_mel(ours, golden,
                                        "1089_134686_000007_000004.wav, soxr vs "
                                        "torchaudio sinc, all mel bins");
  ASSERT_EQ(ours.features.shape(), golden.features.shape());

  constexpr double kCommonPassbandHz = 6000.0;
  const double mel_step = hertz_to_mel_slaney(8000.0) / 129.0;  // 130 edges over 0..8 kHz
  double below_cutoff = 0;
  int bins_below = 0;
  for (int m = 0; m < 128; ++m) {
    if (mel_to_hertz_slaney((m + 2) * mel_step) > kCommonPassbandHz) break;
    ++bins_below;
    for (int64_t t = 0; t < kWindowFrames; ++t) {
      const int64_t i = m * kWindowFrames + t;
      below_cutoff =
          std::max<double>(below_cutoff, std::fabs(ours.features[i] - golden.features[i]));
    }
  }
  std::printf("[ mel golden ] 24 kHz, mel bins 0..%d (below %.0f Hz): max abs error %.3g\n",
              bins_below - 1, kCommonPassbandHz, below_cutoff);
  EXPECT_GT(bins_below, 100);
  EXPECT_LT(below_cutoff, kResamplerTolerance);
  // Whole matrix: the difference stays a small fraction of the signal.
  EXPECT_LT(testing::relative_error(ours.features, golden.features), 0.03);
  EXPECT_LT(full_range, 1.0);
}

// The comparison itself, on a golden file written here from our own output: a fixture equal
// to ours gives error 0, one with a single changed value reports exactly that change, and a
// wrong window count is caught.
TEST(MelGolden, ComparisonDetectsDifferences) {
  const std::vector<float> samples = [] {
    std::vector<float> s(16000 * 2);
    for (size_t i = 0; i < s.size(); ++i) s[i] = 0.3f * std::sin(0.05f * static_cast<float>(i));
    return s;
  }();
  const MelWindows ours = LogMelExtractor().compute(samples);
  const std::string dir = testing::make_temp_dir("mel-golden");
  const std::string path = dir + "/self.safetensors";
  write_safetensors(path, {make_f32_tensor("input_features", ours.features),
                           make_i64_tensor("window_frames", ours.valid_frames)});
  GoldenMel golden = load_golden(path, "input_features");
  EXPECT_EQ(compare_mel(ours, golden, "self"), 0.0);

  golden.features[12345] += 0.25f;
  EXPECT_NEAR(compare_mel(ours, golden, "self, one value changed"), 0.25, 1e-6);

  golden.window_frames = {ours.valid_frames[0] + 1};
  MelWindows wrong_frames = ours;
  EXPECT_NONFATAL_FAILURE(compare_mel(wrong_frames, golden, "self, frames differ"), "valid_frames");
}

}  // namespace
}  // namespace glmasr
