#include "args.h"

#include <cstdlib>

#include "core/error.h"

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
    GLMASR_CHECK(spec, "unknown option '", name, "' (see --help)");
    if (spec->takes_value) {
      if (!inline_value) {
        GLMASR_CHECK(i + 1 < argv.size(), "option ", spec->name, " needs a value");
        inline_value = argv[++i];
      }
      values_[spec->name].push_back(*inline_value);
    } else {
      GLMASR_CHECK(!inline_value, "option ", spec->name, " takes no value");
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
  GLMASR_CHECK(!text->empty() && end && *end == '\0', "option ", name,
               ": expected an integer, got '", *text, "'");
  GLMASR_CHECK(value >= min && value <= max, "option ", name, ": expected ", min, "..", max,
               ", got ", value);
  return value;
}

double Args::get_double(const std::string& name, double fallback, double min, double max) const {
  const auto text = get(name);
  if (!text) return fallback;
  char* end = nullptr;
  const double value = std::strtod(text->c_str(), &end);
  GLMASR_CHECK(!text->empty() && end && *end == '\0', "option ", name, ": expected a number, got '",
               *text, "'");
  GLMASR_CHECK(value >= min && value <= max, "option ", name, ": expected ", min, "..", max,
               ", got ", value);
  return value;
}

}  // namespace glmasr::cli
