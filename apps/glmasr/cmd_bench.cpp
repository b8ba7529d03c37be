// Placeholder until the owning change lands.
#include <cstdio>

#include "commands.h"

namespace glmasr::cli {

int run_bench(const CommandArgs&) {
  std::fprintf(stderr, "glmasr bench: not implemented yet\n");
  return 2;
}

}  // namespace glmasr::cli
