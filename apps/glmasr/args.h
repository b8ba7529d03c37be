// A small command-line parser shared by the glmasr subcommands: each command declares the
// options it accepts; anything else is an error that names the option.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "engine/engine_options.h"

namespace glmasr::cli {

// The command line itself is wrong (unknown option, missing or bad value, missing argument):
// main() prints it with a pointer to --help and exits 2, where failures of the work exit 1.
class UsageError : public InputError {
 public:
  using InputError::InputError;
};

template <typename... Parts>
[[noreturn]] void fail_usage(Parts&&... parts) {
  throw UsageError(cat(std::forward<Parts>(parts)...));
}

struct OptionSpec {
  std::string name;          // "--model"
  bool takes_value = false;  // "--model DIR" versus "--quiet"
  std::string alias = {};    // "-o"
};

class Args {
 public:
  // Throws UsageError for an unknown option or a missing value.
  Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // Every value given for a repeatable option, in order.
  std::vector<std::string> get_all(const std::string& name) const;
  // Integer option with range check; throws UsageError naming the option.
  long get_int(const std::string& name, long fallback, long min, long max) const;
  double get_double(const std::string& name, double fallback, double min, double max) const;
  // One of `allowed` (or fallback when absent); throws UsageError naming the allowed values.
  std::string get_choice(const std::string& name, const std::string& fallback,
                         const std::vector<std::string>& allowed) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

// For commands that read audio: "-" (standard input) at most once, and --input-rate /
// --input-channels, which describe raw PCM on standard input, only when "-" is an input.
void check_stdin_options(const Args& args);

// --weights bf16|fp8 (default bf16) through parse_weight_format; a bad value is a UsageError.
WeightFormat weights_option(const Args& args);

// --devices all|LIST (default all: every GPU, one engine on the CPU) through resolve_devices;
// a bad list or a missing GPU is a UsageError.
std::vector<int> devices_option(const Args& args, const EngineOptions& options);

}  // namespace glmasr::cli
