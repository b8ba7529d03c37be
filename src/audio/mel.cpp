#include "audio/mel.h"

#include <fftw3.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <numbers>
#include <thread>

#include "core/error.h"
#include "core/worker_pool.h"
#include "model/audio_tokens.h"

namespace glmasr {
namespace {

constexpr int kFrequencyBins = kFftSize / 2 + 1;  // 201 one-sided bins
constexpr int kPad = kFftSize / 2;                // center=True pads n_fft/2 on each side
constexpr float kLogFloor = 1e-10f;
constexpr float kDynamicRange = 8.0f;  // log10 units kept below the window's maximum

// FFTW's planner (create/destroy) is not thread-safe; executing plans is.
std::mutex& fftw_planner_mutex() {
  static std::mutex mutex;
  return mutex;
}

// 64-byte aligned float buffer: FFTW's new-array execute needs the alignment the plan was made
// with, so plan and execution buffers are all allocated alike.
class AlignedFloats {
 public:
  explicit AlignedFloats(size_t count)
      : data_(static_cast<float*>(std::aligned_alloc(64, round_up(count * sizeof(float))))) {
    if (!data_) throw std::bad_alloc();
  }
  ~AlignedFloats() { std::free(data_); }
  AlignedFloats(const AlignedFloats&) = delete;
  AlignedFloats& operator=(const AlignedFloats&) = delete;
  float* get() const { return data_; }

 private:
  static size_t round_up(size_t bytes) { return (bytes + 63) / 64 * 64; }
  float* data_;
};

// torch.hann_window(400) (periodic): 0.5 - 0.5 cos(2 pi n / N).
std::vector<float> periodic_hann(int size) {
  std::vector<float> window(static_cast<size_t>(size));
  for (int n = 0; n < size; ++n)
    window[n] = static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * n / size));
  return window;
}

// numpy.linspace(start, stop, count): start + i * step, with the last point exactly `stop`.
std::vector<double> linspace(double start, double stop, int count) {
  std::vector<double> points(static_cast<size_t>(count));
  const double step = (stop - start) / (count - 1);
  for (int i = 0; i < count; ++i) points[i] = start + i * step;
  if (count > 1) points[count - 1] = stop;
  return points;
}

}  // namespace

struct LogMelExtractor::FftPlan {
  fftwf_plan plan = nullptr;
  ~FftPlan() {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    fftwf_destroy_plan(plan);
  }
};

double hertz_to_mel_slaney(double hertz) {
  constexpr double kMinLogHertz = 1000.0, kMinLogMel = 15.0;
  const double logstep = 27.0 / std::log(6.4);
  if (hertz >= kMinLogHertz) return kMinLogMel + std::log(hertz / kMinLogHertz) * logstep;
  return 3.0 * hertz / 200.0;
}

double mel_to_hertz_slaney(double mel) {
  constexpr double kMinLogHertz = 1000.0, kMinLogMel = 15.0;
  const double logstep = std::log(6.4) / 27.0;
  if (mel >= kMinLogMel) return kMinLogHertz * std::exp(logstep * (mel - kMinLogMel));
  return 200.0 * mel / 3.0;
}

std::vector<double> slaney_mel_filter_bank(int num_mel_bins, int num_frequency_bins,
                                           double sample_rate, double min_frequency,
                                           double max_frequency) {
  GLMASR_CHECK(num_mel_bins >= 1 && num_frequency_bins >= 2,
               "mel filter bank: expected >= 1 mel bins and >= 2 frequency bins, got ",
               num_mel_bins, " and ", num_frequency_bins);
  // Same operations in the same order as transformers' audio_utils, in float64.
  const std::vector<double> mel_points = linspace(
      hertz_to_mel_slaney(min_frequency), hertz_to_mel_slaney(max_frequency), num_mel_bins + 2);
  std::vector<double> edges(mel_points.size());
  for (size_t i = 0; i < mel_points.size(); ++i) edges[i] = mel_to_hertz_slaney(mel_points[i]);
  // fft_freqs = linspace(0, sampling_rate // 2, num_frequency_bins)
  const std::vector<double> fft_freqs =
      linspace(0.0, std::floor(sample_rate / 2.0), num_frequency_bins);

  std::vector<double> bank(static_cast<size_t>(num_mel_bins) * num_frequency_bins, 0.0);
  for (int m = 0; m < num_mel_bins; ++m) {
    const double rise = edges[m + 1] - edges[m];
    const double fall = edges[m + 2] - edges[m + 1];
    const double slaney_norm = 2.0 / (edges[m + 2] - edges[m]);
    for (int k = 0; k < num_frequency_bins; ++k) {
      const double down = -(edges[m] - fft_freqs[k]) / rise;
      const double up = (edges[m + 2] - fft_freqs[k]) / fall;
      bank[static_cast<size_t>(m) * num_frequency_bins + k] =
          std::max(0.0, std::min(down, up)) * slaney_norm;
    }
  }
  return bank;
}

LogMelExtractor::LogMelExtractor(int num_mel_bins, int num_threads)
    : num_mel_bins_(num_mel_bins), num_threads_(std::max(1, num_threads)) {
  GLMASR_CHECK(num_mel_bins >= 1 && num_mel_bins <= 512,
               "log-mel extractor: expected 1..512 mel bins, got ", num_mel_bins);
  const std::vector<double> bank = slaney_mel_filter_bank(num_mel_bins, kFrequencyBins);
  filters_.assign(bank.begin(), bank.end());  // built in float64, used as float32
  filter_begin_.assign(num_mel_bins, 0);
  filter_end_.assign(num_mel_bins, 0);
  for (int m = 0; m < num_mel_bins; ++m) {
    const float* row = &filters_[static_cast<size_t>(m) * kFrequencyBins];
    int begin = 0, end = kFrequencyBins;
    while (begin < end && row[begin] == 0.0f) ++begin;
    while (end > begin && row[end - 1] == 0.0f) --end;
    filter_begin_[m] = begin;
    filter_end_[m] = end;
  }
  window_ = periodic_hann(kFftSize);

  AlignedFloats input(kFftSize), output(2 * kFrequencyBins);
  auto fft = std::make_shared<FftPlan>();
  {
    std::lock_guard<std::mutex> lock(fftw_planner_mutex());
    // FFTW_ESTIMATE: deterministic plan choice (measured plans may differ between runs and
    // with them the rounding), and planning does not touch the arrays.
    fft->plan = fftwf_plan_dft_r2c_1d(
        kFftSize, input.get(), reinterpret_cast<fftwf_complex*>(output.get()), FFTW_ESTIMATE);
  }
  GLMASR_CHECK(fft->plan, "log-mel extractor: FFTW could not plan a real FFT of size ", kFftSize);
  fft_ = std::move(fft);
  // Computed at run time like every other value (a compile-time log10 might round differently).
  volatile float log_floor = kLogFloor;
  log_of_silence_ = std::log10(std::max(0.0f, static_cast<float>(log_floor)));
  if (num_threads_ > 1) pool_ = std::make_shared<WorkerPool>(num_threads_);
}

namespace {

// Sample p of a window as torch.stft(center=True, pad_mode="reflect") sees it after the
// zero-padding to 480 000 samples, p in [-kPad, kWindowSamples + kPad): the edge sample itself
// is not repeated by the reflection.
int64_t reflected_index(int64_t p) {
  if (p < 0) return -p;
  if (p >= kWindowSamples) return 2 * (kWindowSamples - 1) - p;
  return p;
}

// The lowest sample index frame t reads: a frame reading nothing below `count` lies entirely in
// the zero padding and has power exactly 0. The head's reflection reads from index 1 up; the
// tail's reflects onto samples 479 959 and above, all above the last frame's own first sample
// (479 640), so it never lowers the index.
int64_t lowest_index_of_frame(int64_t t) {
  return std::max<int64_t>(0, t * kHopLength - kPad);
}

}  // namespace

void LogMelExtractor::frame_mel_power(float* frame, float* spectrum, float* power,
                                      double* mel) const {
  auto* bins = reinterpret_cast<fftwf_complex*>(spectrum);
  // FFTW's new-array execute: the plan was made for these alignments (AlignedFloats).
  fftwf_execute_dft_r2c(fft_->plan, frame, bins);
  for (int k = 0; k < kFrequencyBins; ++k)
    power[k] = bins[k][0] * bins[k][0] + bins[k][1] * bins[k][1];
  for (int m = 0; m < num_mel_bins_; ++m) {
    const float* row = &filters_[static_cast<size_t>(m) * kFrequencyBins];
    double sum = 0;
    for (int k = filter_begin_[m]; k < filter_end_[m]; ++k)
      sum += static_cast<double>(row[k]) * power[k];
    mel[m] = sum;
  }
}

void LogMelExtractor::check_window_count(int64_t count) {
  GLMASR_CHECK(count >= 0 && count <= kWindowSamples, "log-mel window: expected 0..",
               kWindowSamples, " samples, got ", count);
}

float LogMelExtractor::log_mel_frames(const float* samples, int64_t count, int64_t begin,
                                      int64_t end, float* out) const {
  constexpr int64_t frames = kWindowFrames;
  float chunk_max = -INFINITY;
  AlignedFloats frame(kFftSize), spectrum(2 * kFrequencyBins);
  float power[kFrequencyBins];
  float* frame_data = frame.get();
  std::vector<double> mel(static_cast<size_t>(num_mel_bins_));
  for (int64_t t = begin; t < end; ++t) {
    if (lowest_index_of_frame(t) >= count) {
      // log10(max(0, floor)), the value the full computation gives such a frame.
      for (int m = 0; m < num_mel_bins_; ++m) out[m * frames + t] = log_of_silence_;
      chunk_max = std::max(chunk_max, log_of_silence_);
      continue;
    }
    const int64_t first = t * kHopLength - kPad;
    if (first >= 0 && first + kFftSize <= count) {
      const float* start = samples + first;
      for (int n = 0; n < kFftSize; ++n) frame_data[n] = start[n] * window_[n];
    } else {  // reflected or zero-padded samples at an edge of the audio or the window
      for (int n = 0; n < kFftSize; ++n) {
        const int64_t index = reflected_index(first + n);
        frame_data[n] = (index < count ? samples[index] : 0.0f) * window_[n];
      }
    }
    frame_mel_power(frame_data, spectrum.get(), power, mel.data());
    for (int m = 0; m < num_mel_bins_; ++m) {
      const float value = std::log10(std::max(static_cast<float>(mel[m]), kLogFloor));
      out[m * frames + t] = value;
      chunk_max = std::max(chunk_max, value);
    }
  }
  return chunk_max;
}

void LogMelExtractor::for_each_index(int64_t count,
                                     const std::function<void(int64_t)>& item) const {
  if (pool_) {
    pool_->run(count, item);
    return;
  }
  for (int64_t i = 0; i < count; ++i) item(i);
}

void LogMelExtractor::compute_windows_into(const float* samples, int64_t total_samples,
                                           int64_t windows, float* out) const {
  // Frames and values are split into fixed chunks, the same whatever the thread count: every
  // value is computed by the same operations, and the window's maximum (exact in any order) is
  // reduced from the chunks' maxima, so the result does not depend on the threads.
  constexpr int64_t kChunks = (kWindowFrames + kFramesPerChunk - 1) / kFramesPerChunk;
  const int64_t window_floats = static_cast<int64_t>(num_mel_bins_) * kWindowFrames;
  std::vector<float> chunk_max(static_cast<size_t>(windows * kChunks));
  for_each_index(windows * kChunks, [&](int64_t i) {
    const int64_t w = i / kChunks, c = i % kChunks;
    const int64_t begin = w * kWindowSamples;
    const int64_t count = std::min(kWindowSamples, total_samples - begin);
    chunk_max[static_cast<size_t>(i)] =
        log_mel_frames(samples + begin, count, c * kFramesPerChunk,
                       std::min(kWindowFrames, (c + 1) * kFramesPerChunk), out + w * window_floats);
  });
  std::vector<float> floor(static_cast<size_t>(windows));
  for (int64_t w = 0; w < windows; ++w)
    floor[w] =
        *std::max_element(chunk_max.begin() + w * kChunks, chunk_max.begin() + (w + 1) * kChunks) -
        kDynamicRange;
  const int64_t piece = (window_floats + kChunks - 1) / kChunks;
  for_each_index(windows * kChunks, [&](int64_t i) {
    const int64_t w = i / kChunks, c = i % kChunks;
    float* window = out + w * window_floats;
    const float lowest = floor[w];
    for (int64_t j = c * piece, j_end = std::min(window_floats, (c + 1) * piece); j < j_end; ++j)
      window[j] = (std::max(window[j], lowest) + 4.0f) / 4.0f;
  });
}

FloatTensor LogMelExtractor::compute_window(const float* samples, int64_t count) const {
  check_window_count(count);
  FloatTensor out({num_mel_bins_, kWindowFrames});
  compute_windows_into(samples, count, 1, out.data());
  return out;
}

FloatTensor LogMelExtractor::compute_window_reference(const float* samples, int64_t count) const {
  check_window_count(count);
  FloatTensor result({num_mel_bins_, kWindowFrames});
  float* out = result.data();
  // The window zero-padded to 480 000 samples, then reflect-padded by 200 at both ends
  // (torch.stft center=True, pad_mode="reflect": the edge sample itself is not repeated).
  constexpr int64_t kPadded = kWindowSamples + 2 * kPad;
  std::vector<float> padded(static_cast<size_t>(kPadded), 0.0f);
  std::copy(samples, samples + count, padded.begin() + kPad);
  for (int i = 1; i <= kPad; ++i) {
    padded[kPad - i] = padded[kPad + i];
    padded[kPad + kWindowSamples - 1 + i] = padded[kPad + kWindowSamples - 1 - i];
  }

  AlignedFloats frame(kFftSize), spectrum(2 * kFrequencyBins);
  float power[kFrequencyBins];
  float* frame_data = frame.get();
  std::vector<double> mel(static_cast<size_t>(num_mel_bins_));
  const int64_t frames = kWindowFrames;  // 3001 STFT frames, the last one dropped
  for (int64_t t = 0; t < frames; ++t) {
    const float* start = &padded[static_cast<size_t>(t * kHopLength)];
    for (int n = 0; n < kFftSize; ++n) frame_data[n] = start[n] * window_[n];
    frame_mel_power(frame_data, spectrum.get(), power, mel.data());
    for (int m = 0; m < num_mel_bins_; ++m) out[m * frames + t] = static_cast<float>(mel[m]);
  }

  const int64_t total = static_cast<int64_t>(num_mel_bins_) * frames;
  float window_max = -INFINITY;
  for (int64_t i = 0; i < total; ++i) {
    out[i] = std::log10(std::max(out[i], kLogFloor));
    window_max = std::max(window_max, out[i]);
  }
  const float floor = window_max - kDynamicRange;
  for (int64_t i = 0; i < total; ++i) out[i] = (std::max(out[i], floor) + 4.0f) / 4.0f;
  return result;
}

int64_t windows_for_samples(int64_t num_samples) {
  return std::max<int64_t>(1, (num_samples + kWindowSamples - 1) / kWindowSamples);
}

MelWindows LogMelExtractor::compute(const std::vector<float>& samples, int max_windows) const {
  const int64_t total = static_cast<int64_t>(samples.size());
  const int64_t windows = windows_for_samples(total);
  if (windows > max_windows) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1f", static_cast<double>(total) / kSampleRate);
    fail("audio is ", seconds, " s; one request takes at most ", max_windows * kWindowSeconds,
         " s (", max_windows, " windows of ", kWindowSeconds, " s)");
  }
  MelWindows result;
  result.features = FloatTensor({windows, num_mel_bins_, kWindowFrames});
  result.valid_frames.resize(static_cast<size_t>(windows));
  for (int64_t w = 0; w < windows; ++w)
    result.valid_frames[static_cast<size_t>(w)] =
        valid_mel_frames(std::min(kWindowSamples, total - w * kWindowSamples));
  compute_windows_into(samples.data(), total, windows, result.features.data());
  return result;
}

int64_t min_samples_for_audio_token(int64_t merge_factor) {
  GLMASR_CHECK(merge_factor >= 1, "audio token: expected a merge factor >= 1, got ", merge_factor);
  int64_t frames = 1;
  while (audio_tokens_for_frames(frames, merge_factor) < 1) ++frames;
  // ceil(n / 160) reaches `frames` first at n = (frames - 1) * 160 + 1.
  return (frames - 1) * kHopLength + 1;
}

void check_audio_yields_tokens(int64_t num_samples, const std::string& source,
                               int64_t merge_factor) {
  const int64_t first_window = std::min(num_samples, kWindowSamples);
  if (audio_tokens_for_frames(valid_mel_frames(first_window), merge_factor) >= 1) return;
  const int64_t minimum = min_samples_for_audio_token(merge_factor);
  char text[160];
  std::snprintf(text, sizeof text,
                "is %.4f s long (%lld samples at 16 kHz); the model needs at least %.4f s (%lld "
                "samples) to produce one audio token",
                static_cast<double>(num_samples) / kSampleRate, static_cast<long long>(num_samples),
                static_cast<double>(minimum) / kSampleRate, static_cast<long long>(minimum));
  fail("audio '", source, "' ", text);
}

}  // namespace glmasr
