// libFuzzer target for config.json (and generation_config.json) loading, model/config.h.
// Input: the config.json bytes; a NUL byte, when present, ends them and starts the
// generation_config.json bytes. Both reach the loader as files (memfd, no disk). Whatever loads
// must be a model the engines can size: positive dimensions that divide as they use them.
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz_util.h"
#include "model/config.h"

namespace {

constexpr const char* kTarget = "config_fuzz";

void check(const glmasr::ModelConfig& config) {
  const auto& d = config.decoder;
  const auto& e = config.encoder;
  if (d.hidden_size <= 0 || d.num_layers <= 0 || d.num_heads <= 0 || d.num_kv_heads <= 0 ||
      d.head_dim <= 0 || d.vocab_size <= 0)
    glmasr::fuzz::violated(kTarget, "decoder dimension not positive");
  if (d.num_heads % d.num_kv_heads != 0)
    glmasr::fuzz::violated(kTarget, "decoder heads not a multiple of KV heads");
  if (e.hidden_size <= 0 || e.num_layers <= 0 || e.num_heads <= 0)
    glmasr::fuzz::violated(kTarget, "encoder dimension not positive");
  if (config.audio_token_id < 0 || config.audio_token_id >= d.vocab_size)
    glmasr::fuzz::violated(kTarget, "audio_token_id outside the vocabulary");
  if (config.eos_token_ids.empty()) glmasr::fuzz::violated(kTarget, "no eos id");
  for (int id : config.eos_token_ids)
    if (id < 0 || id >= d.vocab_size) glmasr::fuzz::violated(kTarget, "eos id outside vocabulary");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const glmasr::fuzz::MemFile config_file("config.json");
  static const glmasr::fuzz::MemFile generation_file("generation_config.json");
  const auto* nul = static_cast<const uint8_t*>(std::memchr(data, 0, size));
  const size_t config_size = nul ? static_cast<size_t>(nul - data) : size;
  const std::string config_path = config_file.write(data, config_size);
  const std::string generation_path =
      nul ? generation_file.write(nul + 1, size - config_size - 1) : std::string();
  glmasr::fuzz::expect_only_glmasr_errors(
      kTarget, [&] { check(glmasr::load_model_config(config_path, generation_path)); });
  return 0;
}
