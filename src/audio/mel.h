// Whisper log-mel features exactly as transformers' WhisperFeatureExtractor computes them for
// GLM-ASR: the audio is split into 30 s windows, each zero-padded to 480 000 samples and turned
// into a [num_mel_bins, 3000] matrix (periodic Hann, n_fft 400, hop 160, reflect padding, last
// frame dropped, Slaney mel filters, log10 floor 1e-10, per-window max-8 clamp, (x+4)/4).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "audio/features.h"
#include "audio/mel_windows.h"
#include "core/tensor.h"
#include "core/worker_pool.h"

namespace glmasr {

class LogMelExtractor {
 public:
  // num_threads > 1 spreads the frames of each call (of one window too) over that many threads
  // of a pool the extractor keeps (and its copies share); the result does not depend on it.
  // The FFT plan is made here (FFTW's planner is not thread-safe, executing a plan is), so one
  // extractor can serve concurrent compute() calls.
  explicit LogMelExtractor(int num_mel_bins = 128, int num_threads = 1);

  // Splits `samples` (16 kHz mono) into 30 s windows. Throws when the audio needs more than
  // max_windows windows (the processor's 630 s cap by default).
  MelWindows compute(const std::vector<float>& samples, int max_windows = kMaxWindows) const;

  // One window: `samples` holds at most 480 000 samples; the result is [num_mel_bins, 3000].
  // Frames that lie entirely in the zero padding are not transformed: their value is known.
  FloatTensor compute_window(const float* samples, int64_t count) const;
  // The same by the straightforward computation (every frame transformed, one thread), kept
  // for the tests that show compute_window gives bit-identical values.
  FloatTensor compute_window_reference(const float* samples, int64_t count) const;

  int num_mel_bins() const { return num_mel_bins_; }
  int num_threads() const { return num_threads_; }
  // The filters as used: [num_mel_bins, 201] float32, row-major.
  const std::vector<float>& filters() const { return filters_; }

 private:
  struct FftPlan;
  // Frames per unit of work: 60 per window, enough to balance a few threads on a short clip.
  static constexpr int64_t kFramesPerChunk = 50;
  static void check_window_count(int64_t count);
  // `windows` consecutive windows of `samples` (total_samples long) into out [windows, bins,
  // 3000].
  void compute_windows_into(const float* samples, int64_t total_samples, int64_t windows,
                            float* out) const;
  // Frames [begin, end) of one window of `count` samples: log10 of their mel power into the
  // columns of out [bins, 3000]; returns their largest value.
  float log_mel_frames(const float* samples, int64_t count, int64_t begin, int64_t end,
                       float* out) const;
  void for_each_index(int64_t count, const std::function<void(int64_t)>& item) const;
  // The mel power of one windowed frame (its 400 samples in `frame`):
  // mel[m] = sum over filter m's bins of filter * |X_k|^2. `spectrum`: scratch of 402 floats.
  void frame_mel_power(float* frame, float* spectrum, float* power, double* mel) const;

  int num_mel_bins_;
  int num_threads_;
  std::vector<float> filters_;  // [num_mel_bins, 201], Slaney-normalised triangles
  // Per mel bin, the FFT bins [begin, end) where its triangle is non-zero: the product with
  // the power spectrum skips exact zeros, which changes no sum and saves ~98% of the work.
  std::vector<int> filter_begin_, filter_end_;
  std::vector<float> window_;  // periodic Hann, 400 taps
  std::shared_ptr<const FftPlan> fft_;
  float log_of_silence_ = 0;          // log10 of the floor: a frame of zeros
  std::shared_ptr<WorkerPool> pool_;  // null for one thread
};

// The Slaney mel scale (librosa htk=False): linear below 1 kHz, logarithmic above.
double hertz_to_mel_slaney(double hertz);
double mel_to_hertz_slaney(double mel);

// transformers' mel_filter_bank(num_frequency_bins, num_mel_bins, min_frequency, max_frequency,
// sampling_rate, norm="slaney", mel_scale="slaney"), built in float64 and returned transposed:
// [num_mel_bins, num_frequency_bins], row-major.
std::vector<double> slaney_mel_filter_bank(int num_mel_bins, int num_frequency_bins = 201,
                                           double sample_rate = kSampleRate,
                                           double min_frequency = 0.0,
                                           double max_frequency = kSampleRate / 2.0);

// 30 s windows the processor makes from n samples: max(1, ceil(n / 480000)).
int64_t windows_for_samples(int64_t num_samples);

// Fewest 16 kHz samples that give the model at least one audio token (961 for merge factor 4:
// 7 valid mel frames -> 4 frames after conv2 -> one token).
int64_t min_samples_for_audio_token(int64_t merge_factor = 4);

// Throws glmasr::Error naming `source`, its length in seconds and the minimum when
// `num_samples` of 16 kHz audio would give zero audio tokens.
void check_audio_yields_tokens(int64_t num_samples, const std::string& source,
                               int64_t merge_factor = 4);

}  // namespace glmasr
