// How an engine is built: device, precision and the capacities it plans its memory for.
#pragma once

#include <string>
#include <string_view>

namespace glmasr {

// How the decoder's projection weights are held (model/fp8_quantize.h for the fp8 format).
enum class WeightFormat {
  kBF16,  // the checkpoint's weights in the engine's element type
  kFP8,   // E4M3 with one float32 scale per output channel, quantized at load
};

// The one parser of the weights option: "bf16" or "fp8". Throws glmasr::InputError naming
// `option` and the accepted values otherwise.
WeightFormat parse_weight_format(std::string_view text, std::string_view option = "--weights");
std::string_view weight_format_name(WeightFormat format);

struct EngineOptions {
  std::string device = "auto";  // "cpu", "cuda" or "auto" (cuda when a GPU is present)
  int device_index = 0;         // cuda: the GPU's ordinal (create_engines sets it per engine)
  std::string dtype = "bf16";   // cuda: "bf16" or "fp16"; cpu always computes in float32
  WeightFormat weights = WeightFormat::kBF16;  // both engines
  int max_batch = 32;                          // sequences decoded together (cuda)
  int max_sequence = 0;  // KV capacity per sequence; 0 = the config's max positions
  int threads = 0;       // cpu worker threads; 0 = all cores
};

}  // namespace glmasr
