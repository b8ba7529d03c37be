#ifdef GLMASR_HAVE_CUDA
#include "bench_common.h"

#include <algorithm>
#include <random>

#include "cuda/check.h"
#include "cuda/cuda_graph.h"
#include "cuda/device_buffer.h"
#include "cuda/engine/decoder_runner.h"
#include "cuda/stream_timer.h"

namespace glmasr::cli::bench {

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values.empty() ? 0.0 : values[values.size() / 2];
}

Timer::Timer(cudaStream_t stream) : stream_(stream) {
  GLMASR_CUDA_CHECK(cudaEventCreate(&start_));
  GLMASR_CUDA_CHECK(cudaEventCreate(&stop_));
}

Timer::~Timer() {
  cudaEventDestroy(start_);
  cudaEventDestroy(stop_);
}

double Timer::median_ms(const std::function<void()>& work, int runs, int warmup) {
  return cuda::median_stream_ms(stream_, work, runs, warmup);
}

double Timer::graph_median_ms(const std::function<void()>& enqueue, int runs) {
  const cuda::CudaGraph graph = cuda::CudaGraph::capture(stream_, enqueue);
  return median_ms([&] { graph.launch(stream_); }, runs);
}

double Timer::back_to_back_ms(const std::function<void()>& work, int calls) {
  GLMASR_CUDA_CHECK(cudaEventRecord(start_, stream_));
  for (int i = 0; i < calls; ++i) work();
  GLMASR_CUDA_CHECK(cudaEventRecord(stop_, stream_));
  GLMASR_CUDA_CHECK(cudaEventSynchronize(stop_));
  float ms = 0;
  GLMASR_CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
  return ms / calls;
}

ModelConfig real_config() {
  ModelConfig c;
  c.encoder = {128, 1280, 5120, 32, 20, 20, 64, 32, 10000.0f, 1e-5f, 1500, 4};
  c.projector = {5120, 4096, 2048};
  c.decoder = {59264, 2048, 6144, 28, 16, 4, 128, 8192, 1e-5f, 10000.0f};
  c.audio_token_id = 59260;
  c.eos_token_ids = {59246, 59253, 59255};
  c.source = "glmasr bench (GLM-ASR-Nano-2512 shapes)";
  return c;
}

ModelConfig seed_config() {
  ModelConfig c = real_config();
  c.encoder = {128, 64, 256, 1, 1, 1, 64, 32, 10000.0f, 1e-5f, 1500, 4};
  c.projector = {256, 2 * 3584, 3584};
  c.decoder = {59264, 3584, 18944, 28, 28, 4, 128, 8192, 1e-6f, 10000.0f};
  return c;
}

double copy_bandwidth_gbs(Timer& timer) {
  const size_t bytes = size_t{1} << 30;
  cuda::DeviceBuffer a(bytes), b(bytes);
  GLMASR_CUDA_CHECK(cudaMemsetAsync(a.get(), 1, bytes, timer.stream()));
  const double ms = timer.median_ms(
      [&] {
        GLMASR_CUDA_CHECK(
            cudaMemcpyAsync(b.get(), a.get(), bytes, cudaMemcpyDeviceToDevice, timer.stream()));
      },
      20);
  return 2.0 * bytes / (ms * 1e-3) / 1e9;  // read + write
}

std::vector<int32_t> text_ids(int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(count);
  for (int32_t& id : ids) id = static_cast<int32_t>(rng() % 59000);  // below the special ids
  return ids;
}

void prefill_slots(cuda::DecoderRunner& decoder, int slots, int position) {
  const std::vector<int32_t> prompt = text_ids(position, 11);
  for (int first = 0; first < slots; first += 8) {
    std::vector<cuda::PackedPrompt> group;
    for (int s = first; s < std::min(first + 8, slots); ++s)
      group.push_back({.slot = s, .ids = &prompt, .audio_first_row = 0, .audio_rows = 0});
    decoder.prefill_packed(group, nullptr);
  }
}

}  // namespace glmasr::cli::bench
#endif  // GLMASR_HAVE_CUDA
