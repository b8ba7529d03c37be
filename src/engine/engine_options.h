// How an engine is built: device, precision and the capacities it plans its memory for.
#pragma once

#include <string>

namespace glmasr {

struct EngineOptions {
  std::string device = "auto";  // "cpu", "cuda" or "auto" (cuda when a GPU is present)
  std::string dtype = "bf16";   // cuda: "bf16" or "fp16"; cpu always computes in float32
  int max_batch = 32;           // sequences decoded together (cuda)
  int max_sequence = 0;         // KV capacity per sequence; 0 = the config's max positions
  int threads = 0;              // cpu worker threads; 0 = all cores
};

}  // namespace glmasr
