// glmasr_transcribe*: one transcription on the model's shared engine loop. The segments the loop
// finishes are queued and handed to the caller's callback on the caller's own thread, so a slow
// callback (a Python one waiting for its interpreter lock) never stalls the loop's batch.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>

#include "capi/capi_objects.h"
#include "capi/capi_segment.h"
#include "capi/capi_status.h"
#include "core/error.h"
#include "pipeline/transcriber.h"

using namespace glmasr;
using namespace glmasr::capi;

namespace {

// What the loop's thread hands to the calling thread.
struct Handoff {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<TranscriptSegment> segments;  // final, in order, not yet given to the callback
  std::optional<InputResult> result;       // set once, when the input is done
};

TranscribeOptions transcribe_options(const glmasr_model& model,
                                     const glmasr_transcribe_options& given) {
  TranscribeOptions options;
  if (given.prompt) options.prompt_text = given.prompt;
  if (given.max_new_tokens < 0 || given.max_new_tokens > model.max_new_tokens)
    fail_input("max_new_tokens: expected 0 (the model's) to ", model.max_new_tokens,
               " (what the model was opened for: glmasr_model_options.max_new_tokens), got ",
               given.max_new_tokens);
  options.max_new_tokens = given.max_new_tokens > 0 ? given.max_new_tokens : model.max_new_tokens;
  options.loop_guard = given.loop_guard != 0;
  return options;
}

glmasr_status run(glmasr_model& model, const Audio& audio, const glmasr_transcribe_options& given,
                  glmasr_result** out) {
  const auto start = std::chrono::steady_clock::now();
  // Shared with the input's done callback: the loop's sequences refer to the transcriber until
  // the input is done, even if this thread unwinds before then.
  auto transcriber = std::make_shared<Transcriber>(*model.loop, *model.tokenizer,
                                                   transcribe_options(model, given), model.planner);
  auto handoff = std::make_shared<Handoff>();
  auto cancelled = std::make_shared<std::atomic<bool>>(false);
  InputOptions input;
  input.cancelled = cancelled;
  if (given.on_segment)
    input.on_segment = [handoff](const TranscriptSegment& segment) {
      std::lock_guard<std::mutex> lock(handoff->mutex);
      handoff->segments.push_back(segment);
      handoff->changed.notify_all();
    };
  transcriber->submit(audio, input, [handoff, transcriber](InputResult result) {
    std::lock_guard<std::mutex> lock(handoff->mutex);
    handoff->result = std::move(result);
    handoff->changed.notify_all();
  });

  bool stopped_by_callback = false;
  std::unique_lock<std::mutex> lock(handoff->mutex);
  for (;;) {
    handoff->changed.wait(lock, [&] { return handoff->result || !handoff->segments.empty(); });
    while (!handoff->segments.empty()) {
      const TranscriptSegment segment = std::move(handoff->segments.front());
      handoff->segments.pop_front();
      if (stopped_by_callback) continue;
      lock.unlock();
      const glmasr_segment view = segment_view(segment);
      const bool stop = given.on_segment(&view, given.user_data) != 0;
      lock.lock();
      if (stop) {
        stopped_by_callback = true;
        cancelled->store(true);
      }
    }
    if (handoff->result) break;
  }
  InputResult result = std::move(*handoff->result);
  lock.unlock();

  if (stopped_by_callback)
    throw CapiError{.status = GLMASR_ERROR_CANCELLED,
                    .message = audio.source + ": stopped by the segment callback"};
  if (!result.transcript) {
    const std::string fault = model.loop->fault();
    if (!fault.empty()) throw DeviceError(fault);
    if (result.client_error) throw InputError(result.error);
    throw Error(result.error);
  }
  auto made = std::make_unique<glmasr_result>();
  made->transcript = std::move(*result.transcript);
  made->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  *out = made.release();
  return GLMASR_OK;
}

glmasr_transcribe_options options_or_default(const glmasr_transcribe_options* options) {
  glmasr_transcribe_options given;
  glmasr_transcribe_options_init(&given);
  return options ? *options : given;
}

// Decodes with `make_audio`, then transcribes; the audio is freed on every path.
template <typename MakeAudio>
glmasr_status decode_and_run(glmasr_model* model, const glmasr_transcribe_options* options,
                             glmasr_result** result, MakeAudio&& make_audio) {
  if (result) *result = nullptr;
  glmasr_audio* audio = nullptr;
  const glmasr_status decoded = make_audio(&audio);
  if (decoded != GLMASR_OK) return decoded;
  const glmasr_status status = glmasr_transcribe(model, audio, options, result);
  glmasr_audio_free(audio);
  return status;
}

}  // namespace

extern "C" {

void glmasr_transcribe_options_init(glmasr_transcribe_options* options) {
  if (options == nullptr) return;
  *options = glmasr_transcribe_options{.prompt = nullptr,
                                       .max_new_tokens = 0,
                                       .loop_guard = 1,
                                       .on_segment = nullptr,
                                       .user_data = nullptr};
}

glmasr_status glmasr_transcribe(glmasr_model* model, const glmasr_audio* audio,
                                const glmasr_transcribe_options* options, glmasr_result** result) {
  return call_guarded([&] {
    require(result, "result");
    *result = nullptr;
    require(model, "model");
    require(audio, "audio");
    return run(*model, audio->audio, options_or_default(options), result);
  });
}

glmasr_status glmasr_transcribe_file(glmasr_model* model, const char* path,
                                     const glmasr_transcribe_options* options,
                                     glmasr_result** result) {
  return decode_and_run(model, options, result,
                        [&](glmasr_audio** audio) { return glmasr_audio_from_file(path, audio); });
}

glmasr_status glmasr_transcribe_encoded(glmasr_model* model, const void* data, size_t size,
                                        const glmasr_transcribe_options* options,
                                        glmasr_result** result) {
  return decode_and_run(model, options, result, [&](glmasr_audio** audio) {
    return glmasr_audio_from_encoded(data, size, nullptr, audio);
  });
}

glmasr_status glmasr_transcribe_f32(glmasr_model* model, const float* samples, size_t frames,
                                    int sample_rate, int channels,
                                    const glmasr_transcribe_options* options,
                                    glmasr_result** result) {
  return decode_and_run(model, options, result, [&](glmasr_audio** audio) {
    return glmasr_audio_from_f32(samples, frames, sample_rate, channels, audio);
  });
}

glmasr_status glmasr_transcribe_s16(glmasr_model* model, const int16_t* samples, size_t frames,
                                    int sample_rate, int channels,
                                    const glmasr_transcribe_options* options,
                                    glmasr_result** result) {
  return decode_and_run(model, options, result, [&](glmasr_audio** audio) {
    return glmasr_audio_from_s16(samples, frames, sample_rate, channels, audio);
  });
}

}  // extern "C"
