// The C boundary: every exported function runs its body through call_guarded, which turns every
// C++ exception into a status and the calling thread's last-error message.
#pragma once

#include <string>

#include "glmasr/glmasr.h"

namespace glmasr::capi {

// Sets the calling thread's message and returns `status`.
glmasr_status set_error(glmasr_status status, const std::string& message);
void clear_error();
const char* last_error();

// A failure the C API itself reports (a null pointer, an unknown format).
struct CapiError {
  glmasr_status status;
  std::string message;
};

[[noreturn]] void fail_argument(const std::string& message);
// Throws CapiError(GLMASR_ERROR_INVALID_ARGUMENT) naming `what` when `pointer` is null.
void require(const void* pointer, const char* what);

// Runs body() (which returns a glmasr_status); exceptions become statuses: CapiError its own,
// InputError GLMASR_ERROR_INPUT, DeviceError GLMASR_ERROR_DEVICE, other glmasr::Error
// `error_status`, bad_alloc GLMASR_ERROR_OUT_OF_MEMORY, anything else GLMASR_ERROR_INTERNAL.
template <typename Body>
glmasr_status call_guarded(Body&& body, glmasr_status error_status = GLMASR_ERROR_ENGINE);

}  // namespace glmasr::capi

#include "capi/capi_status_impl.h"
