// The CUDA engine behind the Engine seam (runtime/engine.h).
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/engine_options.h"

namespace glmasr {

// Loads the model folder onto the current CUDA device in options.dtype ("bf16" or "fp16"),
// with KV capacity for options.max_batch sequences of options.max_sequence positions (0: the
// config's max_position_embeddings). Throws glmasr::Error naming the folder or the option.
std::unique_ptr<Engine> make_cuda_engine(const std::string& model_dir,
                                         const EngineOptions& options);

}  // namespace glmasr
