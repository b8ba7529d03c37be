// create_engine: the CUDA engine where one is built and a GPU is present, else the CPU engine.
#include "engine/engine_factory.h"

#include "core/error.h"
#include "cpu/cpu_engine.h"

#ifdef GLMASR_HAVE_CUDA
#include "cuda/device.h"
#include "cuda/engine/cuda_engine.h"
#endif

namespace glmasr {

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

}  // namespace glmasr
