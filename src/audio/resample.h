// Channel mixdown and sample-rate conversion, the two steps between a decoder's interleaved
// frames and the model's 16 kHz mono input. Kept apart from decoding so each is testable alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace glmasr {

// Channel mean of interleaved frames (librosa's to_mono). `channels` must be >= 1 and divide
// the sample count.
std::vector<float> mix_to_mono(std::vector<float> interleaved, int channels);

// libsoxr at SOXR_HQ quality, what librosa's default 'soxr_hq' uses; the output holds exactly
// ceil(n * to_rate / from_rate) samples, as librosa fixes the length after resampling.
// Returns the input unchanged when the rates are equal.
// The input goes to soxr in blocks of kResampleBlockSamples, the output straight into the result,
// so that soxr's own buffers stay small whatever the length.
std::vector<float> resample(std::vector<float> mono, int from_rate, int to_rate);
inline constexpr size_t kResampleBlockSamples = size_t{1} << 16;

// The output length librosa gives: ceil(n * to_rate / from_rate), computed exactly in integers.
int64_t resampled_length(int64_t n, int from_rate, int to_rate);

}  // namespace glmasr
