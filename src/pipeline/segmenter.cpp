#include "pipeline/segmenter.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/parallel.h"

namespace glmasr {

namespace {

// Mean square per frame; the last frame may be shorter. Frames spread over the cores: over an
// hour one thread took ~35 ms, the GPU's wait before the first segment (each frame's sum keeps
// its order, so the energies do not depend on the threads).
std::vector<double> frame_energies(std::span<const float> samples, int64_t frame) {
  const int64_t total = static_cast<int64_t>(samples.size());
  std::vector<double> energies(static_cast<size_t>((total + frame - 1) / frame));
  parallel_for(static_cast<int64_t>(energies.size()), 2 * frame, [&](int64_t first, int64_t last) {
    for (int64_t f = first; f < last; ++f) {
      const int64_t begin = f * frame, end = std::min(begin + frame, total);
      double sum = 0;
      for (int64_t i = begin; i < end; ++i) sum += static_cast<double>(samples[i]) * samples[i];
      energies[f] = sum / static_cast<double>(end - begin);
    }
  });
  return energies;
}

// Centred moving average over 2 * radius + 1 frames (fewer at the edges).
std::vector<double> smooth(const std::vector<double>& values, int64_t radius) {
  const int64_t n = static_cast<int64_t>(values.size());
  std::vector<double> prefix(n + 1, 0.0);
  for (int64_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] + values[i];
  std::vector<double> out(n);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t lo = std::max<int64_t>(0, i - radius), hi = std::min<int64_t>(n, i + radius + 1);
    out[i] = (prefix[hi] - prefix[lo]) / static_cast<double>(hi - lo);
  }
  return out;
}

}  // namespace

std::vector<AudioSegment> segment_audio(std::span<const float> samples,
                                        const SegmenterOptions& options) {
  GLMASR_CHECK(options.sample_rate > 0, "segmenter: expected a positive sample rate, got ",
               options.sample_rate);
  const int64_t frame = std::llround(options.frame_seconds * options.sample_rate);
  const int64_t max_length = std::llround(options.max_segment_seconds * options.sample_rate);
  const int64_t search = std::llround(options.search_seconds * options.sample_rate);
  GLMASR_CHECK(frame > 0 && max_length >= 2 * frame,
               "segmenter: expected frame_seconds > 0 and max_segment_seconds >= 2 frames, got ",
               options.frame_seconds, " and ", options.max_segment_seconds);
  GLMASR_CHECK(search >= 0 && search < max_length,
               "segmenter: expected 0 <= search_seconds < max_segment_seconds, got ",
               options.search_seconds, " and ", options.max_segment_seconds);

  const int64_t total = static_cast<int64_t>(samples.size());
  std::vector<AudioSegment> segments;
  if (total == 0) return segments;

  const std::vector<double> energies = frame_energies(samples, frame);
  const int64_t radius = std::max<int64_t>(
      0, std::llround(options.smoothing_seconds * options.sample_rate / frame / 2));
  const std::vector<double> smoothed = smooth(energies, radius);
  const double silence_energy = std::pow(10.0, options.silence_threshold_db / 10.0);

  int64_t begin = 0;
  while (begin < total) {
    int64_t end = total;
    if (total - begin > max_length) {
      const int64_t limit = begin + max_length;
      // Candidate cuts are frame boundaries in [limit - search, limit]; the energy "at" a
      // boundary is that of the frame starting there, smoothed. On ties the later cut wins, so
      // segments stay as long as the window allows.
      int64_t first_frame = (limit - search + frame - 1) / frame;
      first_frame = std::max(first_frame, begin / frame + 1);
      const int64_t last_frame = limit / frame;
      int64_t best = last_frame;
      for (int64_t f = first_frame; f <= last_frame; ++f) {
        const double energy = f < static_cast<int64_t>(smoothed.size()) ? smoothed[f] : 0.0;
        const double best_energy =
            best < static_cast<int64_t>(smoothed.size()) ? smoothed[best] : 0.0;
        if (f == first_frame || energy <= best_energy) best = f;
      }
      end = std::clamp<int64_t>(best * frame, begin + 1, limit);
    }
    AudioSegment segment;
    segment.begin = begin;
    segment.end = end;
    segment.start_seconds = static_cast<double>(begin) / options.sample_rate;
    segment.end_seconds = static_cast<double>(end) / options.sample_rate;
    segment.silent = true;
    for (int64_t f = begin / frame; f * frame < end && segment.silent; ++f)
      if (energies[f] >= silence_energy) segment.silent = false;
    segments.push_back(segment);
    begin = end;
  }
  return segments;
}

}  // namespace glmasr
