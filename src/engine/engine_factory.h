// Builds the engine for a model folder: the CUDA engine where one is built and a GPU is present,
// else the CPU reference. The one place that knows both engines exist.
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/engine_options.h"

namespace glmasr {

// Loads the model folder onto the chosen device. Throws glmasr::Error naming the folder.
std::unique_ptr<Engine> create_engine(const std::string& model_dir, const EngineOptions& options);

}  // namespace glmasr
