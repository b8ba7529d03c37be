// The CPU engine: CpuModel behind the Engine interface (float32, one request at a time).
#pragma once

#include <memory>
#include <string>

#include "engine/engine.h"
#include "engine/engine_options.h"

namespace glmasr {

std::unique_ptr<Engine> make_cpu_engine(const std::string& model_dir, const EngineOptions& options);

}  // namespace glmasr
