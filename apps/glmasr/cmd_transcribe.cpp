// Placeholder until the owning change lands.
#include <cstdio>

#include "commands.h"

namespace glmasr::cli {

int run_transcribe(const CommandArgs&) {
  std::fprintf(stderr, "glmasr transcribe: not implemented yet\n");
  return 2;
}

}  // namespace glmasr::cli
