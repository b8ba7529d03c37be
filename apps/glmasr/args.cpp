#include "args.h"

#include <cstdlib>

#include "engine/engine_factory.h"

namespace glmasr::cli {

Args::Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& specs) {
  bool options_done = false;
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& arg = argv[i];
    if (options_done || arg == "-" || arg.size() < 2 || arg[0] != '-') {
      positional_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    std::string name = arg;
    std::optional<std::string> inline_value;
    if (const auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    const OptionSpec* spec = nullptr;
    for (const auto& candidate : specs)
      if (candidate.name == name || (!candidate.alias.empty() && candidate.alias == name))
        spec = &candidate;
    if (!spec) fail_usage("unknown option '", name, "'");
    if (spec->takes_value) {
      if (!inline_value) {
        if (i + 1 >= argv.size()) fail_usage("option ", spec->name, " needs a value");
        inline_value = argv[++i];
      }
      values_[spec->name].push_back(*inline_value);
    } else {
      if (inline_value) fail_usage("option ", spec->name, " takes no value");
      values_[spec->name].push_back("");
    }
  }
}

std::optional<std::string> Args::get(const std::string& name) const {
  const auto it = values_.find(name);
  if (it == values_.end()) return std::nullopt;
  return it->second.back();
}

std::string Args::get_or(const std::string& name, const std::string& fallback) const {
  return get(name).value_or(fallback);
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  const auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

long Args::get_int(const std::string& name, long fallback, long min, long max) const {
  const auto text = get(name);
  if (!text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || !end || *end != '\0')
    fail_usage("option ", name, ": expected an integer, got '", *text, "'");
  if (value < min || value > max)
    fail_usage("option ", name, ": expected ", min, "..", max, ", got ", value);
  return value;
}

double Args::get_double(const std::string& name, double fallback, double min, double max) const {
  const auto text = get(name);
  if (!text) return fallback;
  char* end = nullptr;
  const double value = std::strtod(text->c_str(), &end);
  if (text->empty() || !end || *end != '\0')
    fail_usage("option ", name, ": expected a number, got '", *text, "'");
  if (!(value >= min && value <= max))
    fail_usage("option ", name, ": expected ", min, "..", max, ", got ", value);
  return value;
}

std::string Args::get_choice(const std::string& name, const std::string& fallback,
                             const std::vector<std::string>& allowed) const {
  const std::string value = get_or(name, fallback);
  for (const auto& candidate : allowed)
    if (value == candidate) return value;
  std::string choices;
  for (size_t i = 0; i < allowed.size(); ++i)
    choices += (i == 0 ? "" : i + 1 == allowed.size() ? " or " : ", ") + allowed[i];
  fail_usage("option ", name, ": expected ", choices, ", got '", value, "'");
}

std::vector<int> devices_option(const Args& args, const EngineOptions& options) {
  try {
    return resolve_devices(args.get_or("--devices", "all"), options);
  } catch (const InputError& e) {
    fail_usage(e.what());
  }
}

WeightFormat weights_option(const Args& args) {
  try {
    return parse_weight_format(args.get_or("--weights", "bf16"));
  } catch (const InputError& e) {
    fail_usage(e.what());
  }
}

void check_stdin_options(const Args& args) {
  int stdin_inputs = 0;
  for (const auto& input : args.positional()) stdin_inputs += input == "-";
  if (stdin_inputs > 1) fail_usage("standard input (-) can be read only once");
  for (const char* raw_only : {"--input-rate", "--input-channels"})
    if (args.has(raw_only) && stdin_inputs == 0)
      fail_usage(raw_only,
                 " describes raw PCM on standard input (-); audio files give their own format");
}

}  // namespace glmasr::cli
