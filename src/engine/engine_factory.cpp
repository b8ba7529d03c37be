// create_engine: the CUDA engine where one is built and a GPU is present, else the CPU engine.
#include "engine/engine_factory.h"

#include <algorithm>
#include <charconv>
#include <exception>
#include <thread>

#include "core/error.h"
#include "cpu/cpu_engine.h"

#ifdef GLMASR_HAVE_CUDA
#include "cuda/device.h"
#include "cuda/engine/cuda_engine.h"
#endif

namespace glmasr {
namespace {

// GPUs the CUDA engine would use, 0 where it would run on the CPU.
int gpu_count(const EngineOptions& options) {
  if (options.device == "cpu") return 0;
#ifdef GLMASR_HAVE_CUDA
  return cuda::device_count();
#else
  return 0;
#endif
}

}  // namespace

std::unique_ptr<Engine> create_engine(const std::string& model_dir, const EngineOptions& options) {
  const std::string& device = options.device;
  GLMASR_CHECK(device == "auto" || device == "cpu" || device == "cuda", "--device: expected ",
               "cpu, cuda or auto, got '", device, "'");
  if (device == "cpu") return make_cpu_engine(model_dir, options);
#ifdef GLMASR_HAVE_CUDA
  if (device == "cuda" || cuda::device_available()) {
    GLMASR_CHECK(cuda::device_available(), "--device cuda: no CUDA device is available");
    return make_cuda_engine(model_dir, options);
  }
#else
  GLMASR_CHECK(device != "cuda", "--device cuda: this glmasr was built without CUDA");
#endif
  return make_cpu_engine(model_dir, options);
}

std::vector<int> resolve_devices(std::string_view devices, const EngineOptions& options) {
  const int gpus = gpu_count(options);
  if (devices == "all") {
    std::vector<int> all(static_cast<size_t>(std::max(gpus, 1)));
    for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int>(i);
    return all;
  }
  std::vector<int> out;
  size_t start = 0;
  while (start <= devices.size()) {
    const size_t comma = std::min(devices.find(',', start), devices.size());
    const std::string_view item = devices.substr(start, comma - start);
    int ordinal = -1;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), ordinal);
    if (item.empty() || error != std::errc() || end != item.data() + item.size() || ordinal < 0)
      throw InputError(cat("--devices: expected 'all' or device ordinals separated by commas ",
                           "(0,1), got '", devices, "'"));
    if (gpus == 0 && ordinal != 0)
      throw InputError(cat("--devices: there is no GPU to use here, only device 0 (the CPU ",
                           "engine; repeat it for more engines), got ", ordinal));
    if (gpus > 0 && ordinal >= gpus)
      throw InputError(cat("--devices: GPU ", ordinal, " does not exist; this host has ", gpus,
                           gpus == 1 ? " GPU (0)" : cat(" GPUs (0..", gpus - 1, ")")));
    out.push_back(ordinal);
    start = comma + 1;
  }
  constexpr size_t kMaxEngines = 64;
  if (out.size() > kMaxEngines)
    throw InputError(cat("--devices: at most ", kMaxEngines, " engines, got ", out.size()));
  return out;
}

std::vector<std::unique_ptr<Engine>> create_engines(const std::string& model_dir,
                                                    const EngineOptions& options,
                                                    const std::vector<int>& devices) {
  GLMASR_CHECK(!devices.empty(), "--devices: expected at least one device, got none");
  std::vector<std::unique_ptr<Engine>> engines(devices.size());
  const auto load = [&](size_t i) {
    EngineOptions one = options;
    one.device_index = devices[i];
    engines[i] = create_engine(model_dir, one);
  };
  if (devices.size() == 1) {  // no thread for the common case
    load(0);
    return engines;
  }
  std::vector<std::exception_ptr> failures(devices.size());
  std::vector<std::thread> loaders;
  for (size_t i = 0; i < devices.size(); ++i)
    loaders.emplace_back([&, i] {
      try {
        load(i);
      } catch (...) {
        failures[i] = std::current_exception();
      }
    });
  for (auto& loader : loaders) loader.join();
  for (const auto& failure : failures)
    if (failure) std::rethrow_exception(failure);
  return engines;
}

}  // namespace glmasr
