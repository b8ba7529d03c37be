// glmasr_model_*: loading a model folder into an engine and its loop.
#include <algorithm>
#include <cmath>
#include <string>

#include "capi/capi_objects.h"
#include "capi/capi_status.h"
#include "core/error.h"
#include "engine/engine_factory.h"
#include "engine/kv_budget.h"
#include "model/config.h"
#include "model/model_location.h"
#include "pipeline/transcriber.h"

namespace glmasr::capi {

namespace {

std::string choice(const char* given, const char* fallback, std::initializer_list<const char*> ok,
                   const char* what) {
  const std::string value = given ? given : fallback;
  for (const char* accepted : ok)
    if (value == accepted) return value;
  std::string list;
  for (const char* accepted : ok) list += std::string(list.empty() ? "" : ", ") + accepted;
  fail_argument(cat(what, ": expected one of ", list, ", got '", value, "'"));
}

}  // namespace

}  // namespace glmasr::capi

using namespace glmasr;
using namespace glmasr::capi;

extern "C" {

const char* glmasr_version(void) {
  return GLMASR_VERSION;
}

void glmasr_model_options_init(glmasr_model_options* options) {
  if (options == nullptr) return;
  *options = glmasr_model_options{.device = "auto",
                                  .weights = "bf16",
                                  .max_batch = 32,
                                  .max_new_tokens = 500,
                                  .kv_cache_gb = 0,
                                  .threads = 0};
}

glmasr_status glmasr_model_open(const char* model_dir, const glmasr_model_options* options,
                                glmasr_model** model) {
  return call_guarded(
      [&] {
        require(model, "model");
        *model = nullptr;
        glmasr_model_options given;
        glmasr_model_options_init(&given);
        if (options) given = *options;
        EngineOptions engine_options;
        engine_options.device =
            choice(given.device, "auto", {"auto", "cpu", "cuda"}, "glmasr_model_options.device");
        // "fp8": E4M3 decoder weights (quantized at load) with bf16 activations.
        const std::string weights =
            choice(given.weights, "bf16", {"bf16", "fp16", "fp8"}, "glmasr_model_options.weights");
        engine_options.dtype = weights == "fp16" ? "fp16" : "bf16";
        engine_options.weights = weights == "fp8" ? WeightFormat::kFP8 : WeightFormat::kBF16;
        if (given.max_batch < 0 || given.max_batch > 1024)
          fail_argument(cat("glmasr_model_options.max_batch: expected 0 (default) to 1024, got ",
                            given.max_batch));
        if (given.max_new_tokens < 0 || given.max_new_tokens > 8192)
          fail_argument(
              cat("glmasr_model_options.max_new_tokens: expected 0 (default) to 8192, got ",
                  given.max_new_tokens));
        if (given.threads < 0)
          fail_argument(cat("glmasr_model_options.threads: expected >= 0, got ", given.threads));
        if (!(given.kv_cache_gb >= 0) || !std::isfinite(given.kv_cache_gb))
          fail_argument(
              cat("glmasr_model_options.kv_cache_gb: expected >= 0, got ", given.kv_cache_gb));
        engine_options.max_batch = given.max_batch > 0 ? given.max_batch : 32;
        engine_options.threads = given.threads;
        const int max_new_tokens = given.max_new_tokens > 0 ? given.max_new_tokens : 500;

        const ModelLocation location =
            locate_model(model_dir ? std::optional<std::string>(model_dir) : std::nullopt);
        const ModelFolder folder{location.dir};
        const ModelConfig config =
            load_model_config(folder.config_path(), folder.generation_config_path());
        engine_options.max_sequence = segment_sequence_positions(config, max_new_tokens);
        if (given.kv_cache_gb > 0) {
          const double per_slot =
              double(engine_options.max_sequence) * kv_bytes_per_position(config);
          const int slots =
              kv_slots_in_budget(config, engine_options.max_sequence, given.kv_cache_gb);
          if (slots < 1)
            fail_argument(cat("glmasr_model_options.kv_cache_gb: ", given.kv_cache_gb,
                              " GB holds no KV slot of ", engine_options.max_sequence,
                              " positions (", per_slot / double(1 << 30), " GB each)"));
          engine_options.max_batch = std::min(engine_options.max_batch, slots);
        }

        auto out = std::make_unique<glmasr_model>();
        out->tokenizer = std::make_unique<Tokenizer>(Tokenizer::from_file(folder.tokenizer_path()));
        out->engine = create_engine(location.dir, engine_options);
        out->loop = std::make_unique<EngineLoop>(*out->engine, engine_options.max_batch);
        // What every call's Transcriber plans with (capi_transcribe.cpp sets only per-call
        // options, so the planning ones are the defaults).
        out->planner = std::make_shared<const SegmentPlanner>(
            out->loop->config(), *out->tokenizer,
            Transcriber::plan_options(TranscribeOptions{}, *out->loop));
        out->description = out->engine->describe();
        out->max_new_tokens = max_new_tokens;
        *model = out.release();
        return GLMASR_OK;
      },
      GLMASR_ERROR_MODEL);
}

void glmasr_model_close(glmasr_model* model) {
  call_guarded([&] {
    if (model) model->loop->stop();
    delete model;
    return GLMASR_OK;
  });
}

const char* glmasr_model_describe(const glmasr_model* model) {
  return model ? model->description.c_str() : "";
}

}  // extern "C"
