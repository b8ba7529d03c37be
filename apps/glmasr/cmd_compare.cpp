// glmasr compare: runs an engine against a transformers reference dump and prints the parity
// report (stage errors, teacher-forced logits per step, greedy agreement).
#include <cstdio>

#include "args.h"
#include "commands.h"
#include "engine/engine_factory.h"
#include "runtime/parity.h"

namespace glmasr::cli {

int run_compare(const CommandArgs& argv) {
  const Args args(argv, {{"--model", true},
                         {"--reference", true},
                         {"--device", true},
                         {"--dtype", true},
                         {"--weights", true},
                         {"--tolerance", true},
                         {"--margin", true},
                         {"--help", false, "-h"}});
  if (args.has("--help") || !args.has("--model") || !args.has("--reference")) {
    std::fprintf(args.has("--help") ? stdout : stderr,
                 "usage: glmasr compare --model DIR --reference DUMP.safetensors "
                 "[--device cpu|cuda] [--dtype bf16|fp16] [--weights bf16|fp8] [--tolerance REL]\n"
                 "       [--margin M]\n"
                 "Passes when every stage's relative error is within --tolerance (default 1e-4)\n"
                 "and the greedy tokens agree up to the first step whose reference top-2 margin\n"
                 "is under --margin (default 0.5).\n");
    return args.has("--help") ? 0 : 2;
  }
  EngineOptions options;
  options.device = args.get_choice("--device", "auto", {"auto", "cpu", "cuda"});
  options.dtype = args.get_choice("--dtype", "bf16", {"bf16", "fp16"});
  options.weights = weights_option(args);
  const double tolerance = args.get_double("--tolerance", 1e-4, 0, 10);
  const double margin = args.get_double("--margin", 0.5, 0, 1e6);
  const ReferenceDump reference = read_reference_dump(*args.get("--reference"));
  auto engine = create_engine(*args.get("--model"), options);
  const ParityReport report =
      compare_with_reference(*engine, reference, static_cast<float>(margin));
  std::printf("engine: %s\nreference: %s\n%s", engine->describe().c_str(), reference.path.c_str(),
              report.format().c_str());
  const bool ok = report.passed(tolerance);
  std::printf("%s (stage tolerance %.1e, margin %.2f)\n", ok ? "PASS" : "FAIL", tolerance, margin);
  return ok ? 0 : 1;
}

}  // namespace glmasr::cli
