// call_guarded's body (a template, so it lives in a header).
#pragma once

#include <cxxabi.h>

#include <exception>
#include <new>

#include "core/error.h"

namespace glmasr::capi {

template <typename Body>
glmasr_status call_guarded(Body&& body, glmasr_status error_status) {
  try {
    clear_error();
    return body();
  } catch (const CapiError& e) {
    return set_error(e.status, e.message);
  } catch (const InputError& e) {
    return set_error(GLMASR_ERROR_INPUT, e.what());
  } catch (const Error& e) {
    return set_error(error_status, e.what());
  } catch (const DeviceError& e) {
    return set_error(GLMASR_ERROR_DEVICE, e.what());
  } catch (const std::bad_alloc&) {
    return set_error(GLMASR_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (abi::__forced_unwind&) {
    throw;  // a thread being cancelled (an interpreter exiting under a daemon thread) must unwind
  } catch (const std::exception& e) {
    return set_error(GLMASR_ERROR_INTERNAL, e.what());
  } catch (...) {
    return set_error(GLMASR_ERROR_INTERNAL, "unknown exception");
  }
}

}  // namespace glmasr::capi
