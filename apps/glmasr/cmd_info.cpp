// glmasr info: loads a model folder exactly as the engines do (config, generation config, every
// weight through load_weights) and prints what it holds. Any broken folder surfaces as the
// loader's error, so this is also the quickest way to check a download.
#include <cstdio>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "model/checkpoint.h"
#include "model/config.h"
#include "model/model_location.h"
#include "model/weights.h"

namespace glmasr::cli {

namespace {

constexpr const char* kUsage =
    "usage: glmasr info --model DIR [--json]\n"
    "Loads config.json, generation_config.json and every weight of the model folder DIR, checks\n"
    "each tensor's shape and dtype against the config, and prints a summary (--json: one JSON\n"
    "object). Exits 1 with the loader's error for a broken folder.\n";

// What the weights add up to, gathered from the checkpoint after load_weights() has vetted it.
struct WeightSummary {
  std::vector<std::string> files;
  int64_t tensors = 0;     // tensors the model uses
  int64_t parameters = 0;  // elements of those tensors (a stored lm_head counts)
  int64_t bytes = 0;
  std::map<std::string, int64_t> parameters_by_part;  // audio_tower, multi_modal_projector, ...
  std::set<std::string> dtypes;
  std::string key_layout;  // "hub", "transformers-5" or "mixed"
};

std::string part_of(const std::string& hub_name) {
  for (const char* part : {"audio_tower", "multi_modal_projector", "language_model"})
    if (hub_name.rfind(std::string(part) + ".", 0) == 0) return part;
  return "other";
}

WeightSummary summarize(const Checkpoint& checkpoint, const ModelWeights& weights) {
  WeightSummary summary;
  summary.files = checkpoint.file_paths();
  const std::set<std::string> unused(weights.unused.begin(), weights.unused.end());
  int hub_keys = 0, renamed_keys = 0;
  for (const std::string& name : checkpoint.hub_names()) {
    (checkpoint.name_in_file(name) == name ? hub_keys : renamed_keys) += 1;
    if (unused.count(name)) continue;
    const TensorView view = checkpoint.get(name);
    summary.tensors += 1;
    summary.parameters += view.numel();
    summary.bytes += static_cast<int64_t>(view.nbytes);
    summary.parameters_by_part[part_of(name)] += view.numel();
    summary.dtypes.insert(std::string(dtype_name(view.dtype)));
  }
  summary.key_layout = renamed_keys == 0 ? "hub" : hub_keys == 0 ? "transformers-5" : "mixed";
  return summary;
}

// Floats as the config wrote them (1e-05, not 9.99999974737875e-06).
double tidy(float value) {
  std::ostringstream text;
  text << value;
  return std::stod(text.str());
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? separator : "") + items[i];
  return out;
}

nlohmann::ordered_json to_json(const std::string& dir, const ModelConfig& config,
                               const ModelWeights& weights, const WeightSummary& summary,
                               bool has_tokenizer) {
  const EncoderConfig& enc = config.encoder;
  const DecoderConfig& dec = config.decoder;
  nlohmann::ordered_json out;
  out["model_dir"] = dir;
  out["encoder"] = {{"num_mel_bins", enc.num_mel_bins},
                    {"hidden_size", enc.hidden_size},
                    {"intermediate_size", enc.intermediate_size},
                    {"num_layers", enc.num_layers},
                    {"num_heads", enc.num_heads},
                    {"num_kv_heads", enc.num_kv_heads},
                    {"head_dim", enc.head_dim},
                    {"rotary_dim", enc.rotary_dim},
                    {"rope_theta", tidy(enc.rope_theta)},
                    {"merge_factor", enc.merge_factor}};
  out["projector"] = {{"input_size", config.projector.input_size},
                      {"hidden_size", config.projector.hidden_size},
                      {"output_size", config.projector.output_size}};
  out["decoder"] = {{"vocab_size", dec.vocab_size},
                    {"hidden_size", dec.hidden_size},
                    {"intermediate_size", dec.intermediate_size},
                    {"num_layers", dec.num_layers},
                    {"num_heads", dec.num_heads},
                    {"num_kv_heads", dec.num_kv_heads},
                    {"head_dim", dec.head_dim},
                    {"max_positions", dec.max_positions},
                    {"rms_norm_eps", tidy(dec.rms_norm_eps)},
                    {"rope_theta", tidy(dec.rope_theta)}};
  out["audio_token_id"] = config.audio_token_id;
  out["eos_token_ids"] = config.eos_token_ids;
  out["config_dtype"] = config.has_weight_dtype
                            ? nlohmann::ordered_json(std::string(dtype_name(config.weight_dtype)))
                            : nlohmann::ordered_json();
  out["files"] = summary.files;
  out["key_layout"] = summary.key_layout;
  out["tensors"] = summary.tensors;
  out["parameters"] = summary.parameters;
  out["bytes"] = summary.bytes;
  out["parameters_by_part"] = summary.parameters_by_part;
  out["dtypes"] = std::vector<std::string>(summary.dtypes.begin(), summary.dtypes.end());
  out["lm_head"] = weights.lm_head_is_embedding ? "tied" : "stored";
  out["unused_tensors"] = weights.unused;
  out["tokenizer_json"] = has_tokenizer;
  return out;
}

void print_text(const std::string& dir, const ModelConfig& config, const ModelWeights& weights,
                const WeightSummary& summary, bool has_tokenizer) {
  const EncoderConfig& enc = config.encoder;
  const DecoderConfig& dec = config.decoder;
  std::printf("model folder   %s\n", dir.c_str());
  std::printf(
      "audio encoder  %d layers, hidden %d, MLP %d, %d heads (%d kv) x head_dim %d, "
      "rotary %d dims (theta %g), %d mel bins\n",
      enc.num_layers, enc.hidden_size, enc.intermediate_size, enc.num_heads, enc.num_kv_heads,
      enc.head_dim, enc.rotary_dim, enc.rope_theta, enc.num_mel_bins);
  std::printf("projector      merge %d frames: %d -> %d -> %d\n", enc.merge_factor,
              config.projector.input_size, config.projector.hidden_size,
              config.projector.output_size);
  std::printf(
      "text decoder   %d layers, hidden %d, MLP %d, %d heads (%d kv) x head_dim %d, "
      "vocab %d, rms eps %g, theta %g, max positions %d\n",
      dec.num_layers, dec.hidden_size, dec.intermediate_size, dec.num_heads, dec.num_kv_heads,
      dec.head_dim, dec.vocab_size, dec.rms_norm_eps, dec.rope_theta, dec.max_positions);
  std::vector<std::string> eos;
  for (int id : config.eos_token_ids) eos.push_back(std::to_string(id));
  std::printf("tokens         audio %d, eos %s\n", config.audio_token_id, join(eos, ", ").c_str());
  std::printf(
      "weights        %zu file(s), %s key layout, %lld tensors, %lld parameters, %lld bytes\n",
      summary.files.size(), summary.key_layout.c_str(), static_cast<long long>(summary.tensors),
      static_cast<long long>(summary.parameters), static_cast<long long>(summary.bytes));
  for (const auto& [part, count] : summary.parameters_by_part)
    std::printf("  %-22s %lld parameters\n", part.c_str(), static_cast<long long>(count));
  std::printf(
      "dtype          %s (config.json: %s)\n",
      join({summary.dtypes.begin(), summary.dtypes.end()}, ", ").c_str(),
      config.has_weight_dtype ? std::string(dtype_name(config.weight_dtype)).c_str() : "not given");
  std::printf("lm_head        %s\n", weights.lm_head_is_embedding
                                         ? "tied (absent from the file; uses embed_tokens)"
                                         : "stored in the checkpoint");
  std::printf("unused         %s\n",
              weights.unused.empty() ? "none" : join(weights.unused, ", ").c_str());
  std::printf("tokenizer      %s\n", has_tokenizer
                                         ? "tokenizer.json present"
                                         : "tokenizer.json MISSING (needed to transcribe)");
}

}  // namespace

int run_info(const CommandArgs& args) {
  const Args parsed(args, {{"--model", true}, {"--json", false}, {"--help", false, "-h"}});
  if (parsed.has("--help")) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (!parsed.has("--model") || !parsed.positional().empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const ModelFolder folder{*parsed.get("--model")};
  check_download_complete(folder.dir);
  const ModelConfig config =
      load_model_config(folder.config_path(), folder.generation_config_path());
  const Checkpoint checkpoint(folder.dir);
  const ModelWeights weights = load_weights(checkpoint, config);
  const WeightSummary summary = summarize(checkpoint, weights);
  const bool has_tokenizer = std::filesystem::is_regular_file(folder.tokenizer_path());
  if (parsed.has("--json"))
    std::printf("%s\n",
                to_json(folder.dir, config, weights, summary, has_tokenizer).dump(2).c_str());
  else
    print_text(folder.dir, config, weights, summary, has_tokenizer);
  return 0;
}

}  // namespace glmasr::cli
