// Placeholder until the owning change lands.
#include <cstdio>

#include "commands.h"

namespace glmasr::cli {

int run_tokenize(const CommandArgs&) {
  std::fprintf(stderr, "glmasr tokenize: not implemented yet\n");
  return 2;
}

int run_detokenize(const CommandArgs&) {
  std::fprintf(stderr, "glmasr detokenize: not implemented yet\n");
  return 2;
}

}  // namespace glmasr::cli
