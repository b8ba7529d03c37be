// Placeholder until the owning change lands.
#include <cstdio>

#include "commands.h"

namespace glmasr::cli {

int run_download(const CommandArgs&) {
  std::fprintf(stderr, "glmasr download: not implemented yet\n");
  return 2;
}

}  // namespace glmasr::cli
