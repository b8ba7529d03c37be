// How a finished input becomes the server's outcome (the status the client sees).
#include <gtest/gtest.h>

#include "core/error.h"
#include "server/engine_backend.h"

namespace glmasr::server {
namespace {

InputResult failed(bool client_error) {
  InputResult r;
  r.source = "upload.wav";
  r.error = "upload.wav: something";
  r.client_error = client_error;
  return r;
}

template <typename E>
bool holds(const std::exception_ptr& failure) {
  try {
    if (failure) std::rethrow_exception(failure);
  } catch (const E&) {
    return true;
  } catch (...) {
  }
  return false;
}

TEST(EngineBackendOutcome, AClientMistakeIsAnInputError) {
  const TranscriptionOutcome o = outcome_of(failed(true), "", false);
  EXPECT_TRUE(holds<InputError>(o.failure));
  EXPECT_FALSE(o.cancelled);
}

TEST(EngineBackendOutcome, AnEngineFailureStaysAFailedResult) {
  const TranscriptionOutcome o = outcome_of(failed(false), "", false);
  EXPECT_FALSE(o.failure);
  EXPECT_EQ(o.result.error, "upload.wav: something");
}

TEST(EngineBackendOutcome, ADeviceFaultOfTheLoopIsADeviceError) {
  const TranscriptionOutcome o = outcome_of(failed(false), "CUDA error illegal address", false);
  EXPECT_TRUE(holds<DeviceError>(o.failure));
  EXPECT_FALSE(holds<Error>(o.failure));
}

TEST(EngineBackendOutcome, ACancelledInputIsDroppedNotAnswered) {
  const TranscriptionOutcome o = outcome_of(failed(true), "", true);
  EXPECT_TRUE(o.cancelled);
  EXPECT_FALSE(o.failure);
}

TEST(EngineBackendOutcome, ASuccessCarriesNoFailureEvenAfterAFault) {
  InputResult ok;
  ok.transcript = Transcript{};
  const TranscriptionOutcome o = outcome_of(ok, "later fault", false);
  EXPECT_FALSE(o.failure);
  EXPECT_TRUE(o.result.transcript);
}

}  // namespace
}  // namespace glmasr::server
