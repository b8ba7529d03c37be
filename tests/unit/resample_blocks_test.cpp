// resample() feeds soxr in blocks: the samples are exactly those of soxr's one-shot call over the
// whole signal, and on a worker thread under the binary's malloc settings it touches little more
// memory than its output (the one-shot call grew buffers of its own by realloc there, which cost
// gigabytes of glibc arena heaps for 15 minutes of 48 kHz audio).
#include <gtest/gtest.h>
#include <soxr.h>
#include <sys/resource.h>

#include <cstdint>
#include <thread>
#include <vector>

#include "audio/resample.h"
#include "core/allocator_settings.h"

namespace glmasr {
namespace {

std::vector<float> noise(size_t count, uint32_t seed) {
  std::vector<float> samples(count);
  uint32_t state = seed;
  for (float& s : samples) {
    state = state * 1664525u + 1013904223u;
    s = static_cast<float>(static_cast<int32_t>(state)) * (0.3f / 2147483648.0f);
  }
  return samples;
}

std::vector<float> one_shot(const std::vector<float>& in, int from_rate, int to_rate) {
  std::vector<float> out(
      static_cast<size_t>(resampled_length(static_cast<int64_t>(in.size()), from_rate, to_rate)));
  const soxr_io_spec_t io = soxr_io_spec(SOXR_FLOAT32_I, SOXR_FLOAT32_I);
  const soxr_quality_spec_t quality = soxr_quality_spec(SOXR_HQ, 0);
  size_t consumed = 0, produced = 0;
  EXPECT_EQ(soxr_oneshot(from_rate, to_rate, 1, in.data(), in.size(), &consumed, out.data(),
                         out.size(), &produced, &io, &quality, nullptr),
            nullptr);
  return out;
}

TEST(ResampleBlocks, SameSamplesAsOneShot) {
  const size_t block = kResampleBlockSamples;
  for (const int rate : {48000, 44100, 22050, 8000}) {
    for (const size_t length :
         {size_t{1}, size_t{100}, block - 1, block, block + 1, 3 * block + 12345}) {
      const std::vector<float> in = noise(length, static_cast<uint32_t>(rate + length));
      EXPECT_EQ(resample(in, rate, 16000), one_shot(in, rate, 16000)) << rate << " " << length;
    }
  }
}

// The process's peak resident set so far (getrusage's ru_maxrss, KB), in bytes.
size_t peak_rss_bytes() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<size_t>(usage.ru_maxrss) * 1024;
}

TEST(ResampleBlocks, AWorkerThreadTouchesLittleMoreThanTheOutput) {
  keep_large_blocks_in_the_heap();  // as the glmasr binary runs
  // 900 s of 48 kHz (173 MB, touched here first): the one-shot call raised the peak by 2.6 GB
  // on a worker thread (its output buffer, grown 8 KB at a time, moved from arena heap to new
  // arena heap, and none was given back); in blocks, by about the 58 MB output.
  std::vector<float> in = noise(900 * 48000, 7);
  const size_t peak_before = peak_rss_bytes();
  size_t out_bytes = 0;
  std::thread worker([&] { out_bytes = resample(std::move(in), 48000, 16000).size() * 4; });
  worker.join();
  const size_t grown = peak_rss_bytes() - peak_before;
  EXPECT_EQ(out_bytes, size_t{900 * 16000 * 4});
  EXPECT_LT(grown, out_bytes + (size_t{64} << 20)) << "the peak grew by " << grown << " bytes";
}

}  // namespace
}  // namespace glmasr
