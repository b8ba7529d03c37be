#include "engine/engine_options.h"

#include "core/error.h"

namespace glmasr {

WeightFormat parse_weight_format(std::string_view text, std::string_view option) {
  if (text == "bf16") return WeightFormat::kBF16;
  if (text == "fp8") return WeightFormat::kFP8;
  fail_input(option, ": expected bf16 or fp8, got '", text, "'");
}

std::string_view weight_format_name(WeightFormat format) {
  return format == WeightFormat::kFP8 ? "fp8" : "bf16";
}

}  // namespace glmasr
