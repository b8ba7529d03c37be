// A small command-line parser shared by the glmasr subcommands: each command declares the
// options it accepts; anything else is an error that names the option.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace glmasr::cli {

struct OptionSpec {
  std::string name;          // "--model"
  bool takes_value = false;  // "--model DIR" versus "--quiet"
  std::string alias = {};    // "-o"
};

class Args {
 public:
  // Throws glmasr::Error for an unknown option or a missing value.
  Args(const std::vector<std::string>& argv, const std::vector<OptionSpec>& specs);

  bool has(const std::string& name) const { return values_.count(name) != 0; }
  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& fallback) const;
  // Every value given for a repeatable option, in order.
  std::vector<std::string> get_all(const std::string& name) const;
  // Integer option with range check; throws naming the option.
  long get_int(const std::string& name, long fallback, long min, long max) const;
  double get_double(const std::string& name, double fallback, double min, double max) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace glmasr::cli
