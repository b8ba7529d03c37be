// Builds the engine for a model folder: the CUDA engine where one is built and a GPU is present,
// else the CPU reference. The one place that knows both engines exist.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"
#include "engine/engine_options.h"

namespace glmasr {

// Loads the model folder onto the chosen device. Throws glmasr::Error naming the folder.
std::unique_ptr<Engine> create_engine(const std::string& model_dir, const EngineOptions& options);

// The engines `--devices` asks for, as device ordinals: "all" (every GPU; one engine on the
// CPU) or a comma-separated list such as "0,2". An ordinal may repeat ("0,0": two engines on one
// GPU, or two CPU engines — how the multi-engine scheduler is tested without several GPUs).
// Throws glmasr::InputError naming the option for a malformed list or a GPU that is not there.
std::vector<int> resolve_devices(std::string_view devices, const EngineOptions& options);

// One engine per entry of `devices`, loaded in parallel (each GPU reads and uploads its own
// copy of the weights). Throws the first failure, after every load has ended.
std::vector<std::unique_ptr<Engine>> create_engines(const std::string& model_dir,
                                                    const EngineOptions& options,
                                                    const std::vector<int>& devices);

}  // namespace glmasr
