#include "capi/capi_status.h"

namespace glmasr::capi {

namespace {
thread_local std::string g_last_error;
}  // namespace

glmasr_status set_error(glmasr_status status, const std::string& message) {
  g_last_error = message;
  return status;
}

void clear_error() {
  g_last_error.clear();
}

const char* last_error() {
  return g_last_error.c_str();
}

void fail_argument(const std::string& message) {
  throw CapiError{.status = GLMASR_ERROR_INVALID_ARGUMENT, .message = message};
}

void require(const void* pointer, const char* what) {
  if (pointer == nullptr) fail_argument(std::string(what) + ": expected a non-null pointer");
}

}  // namespace glmasr::capi

extern "C" {

const char* glmasr_last_error(void) {
  return glmasr::capi::last_error();
}

const char* glmasr_status_name(glmasr_status status) {
  switch (status) {
    case GLMASR_OK:
      return "ok";
    case GLMASR_ERROR_INVALID_ARGUMENT:
      return "invalid_argument";
    case GLMASR_ERROR_INPUT:
      return "input";
    case GLMASR_ERROR_MODEL:
      return "model";
    case GLMASR_ERROR_ENGINE:
      return "engine";
    case GLMASR_ERROR_DEVICE:
      return "device";
    case GLMASR_ERROR_CANCELLED:
      return "cancelled";
    case GLMASR_ERROR_OUT_OF_MEMORY:
      return "out_of_memory";
    case GLMASR_ERROR_INTERNAL:
      return "internal";
  }
  return "unknown";
}

}  // extern "C"
