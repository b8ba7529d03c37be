#include "runtime/engine.h"

namespace glmasr {

const char* stop_reason_name(StopReason reason) {
  switch (reason) {
    case StopReason::kEos:
      return "eos";
    case StopReason::kLength:
      return "length";
    case StopReason::kStopped:
      return "stopped";
    case StopReason::kError:
      return "error";
  }
  return "?";
}

}  // namespace glmasr
