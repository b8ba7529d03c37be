// glmasr for C++: header-only RAII types over the C API (glmasr.h). Failures throw
// glmasr::Error carrying the C API's status and message; the library itself stays behind the C
// boundary, so this header works with any C++17 compiler and standard library.
//
//   glmasr::Model model("GLM-ASR-Nano-2512");
//   glmasr::Result result = model.transcribe_file("audio.wav");
//   std::cout << result.text() << "\n";
//
// Thread safety as in glmasr.h: several threads may call transcribe on one Model at once.
#ifndef GLMASR_GLMASR_HPP
#define GLMASR_GLMASR_HPP

#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "glmasr/glmasr.h"

namespace glmasr {

class Error : public std::runtime_error {
 public:
  Error(glmasr_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  glmasr_status status() const { return status_; }

 private:
  glmasr_status status_;
};

namespace detail {

inline void check(glmasr_status status) {
  if (status != GLMASR_OK)
    throw Error(status, std::string(glmasr_status_name(status)) + ": " + glmasr_last_error());
}

struct ModelClose {
  void operator()(glmasr_model* model) const { glmasr_model_close(model); }
};
struct AudioFree {
  void operator()(glmasr_audio* audio) const { glmasr_audio_free(audio); }
};
struct ResultFree {
  void operator()(glmasr_result* result) const { glmasr_result_free(result); }
};

}  // namespace detail

inline std::string version() {
  return glmasr_version();
}

struct Segment {
  int id = 0;
  double start = 0;
  double end = 0;
  std::string text;
  std::vector<int32_t> tokens;
  double avg_logprob = 0;
  bool loop_detected = false;
  std::string stop_reason;

  static Segment from(const glmasr_segment& s) {
    Segment out;  // field by field: designated initialisers would need C++20 of every user
    out.id = s.id;
    out.start = s.start;
    out.end = s.end;
    out.text = s.text;
    out.tokens.assign(s.tokens, s.tokens + s.token_count);
    out.avg_logprob = s.avg_logprob;
    out.loop_detected = s.loop_detected != 0;
    out.stop_reason = s.stop_reason;
    return out;
  }
};

struct ModelOptions {
  std::string device = "auto";   // "auto", "cpu", "cuda"
  std::string weights = "bf16";  // "bf16", "fp16" (GPU)
  int max_batch = 0;             // 0: the library's default
  int max_new_tokens = 0;        // the most a call may ask for; 0: the library's default (500)
  double kv_cache_gb = 0;
  int threads = 0;
};

struct TranscribeOptions {
  std::optional<std::string> prompt;
  int max_new_tokens = 0;  // 0: the model's
  bool loop_guard = true;
  // Each segment as it is decoded, on the calling thread; returning false stops (the call then
  // throws an Error with GLMASR_ERROR_CANCELLED). An exception thrown here stops it too and is
  // rethrown from transcribe.
  std::function<bool(const Segment&)> on_segment;
};

// Audio decoded for the model (mono, 16 kHz).
class Audio {
 public:
  static Audio from_file(const std::string& path) {
    glmasr_audio* audio = nullptr;
    detail::check(glmasr_audio_from_file(path.c_str(), &audio));
    return Audio(audio);
  }
  static Audio from_encoded(std::string_view bytes, const std::string& name = "buffer") {
    glmasr_audio* audio = nullptr;
    detail::check(glmasr_audio_from_encoded(bytes.data(), bytes.size(), name.c_str(), &audio));
    return Audio(audio);
  }
  // Interleaved when channels > 1; any sample rate.
  static Audio from_pcm(const std::vector<float>& samples, int sample_rate, int channels = 1) {
    glmasr_audio* audio = nullptr;
    detail::check(glmasr_audio_from_f32(samples.data(),
                                        samples.size() / (channels > 0 ? channels : 1), sample_rate,
                                        channels, &audio));
    return Audio(audio);
  }
  static Audio from_pcm(const std::vector<int16_t>& samples, int sample_rate, int channels = 1) {
    glmasr_audio* audio = nullptr;
    detail::check(glmasr_audio_from_s16(samples.data(),
                                        samples.size() / (channels > 0 ? channels : 1), sample_rate,
                                        channels, &audio));
    return Audio(audio);
  }

  double seconds() const { return glmasr_audio_seconds(handle_.get()); }
  const glmasr_audio* get() const { return handle_.get(); }

 private:
  explicit Audio(glmasr_audio* audio) : handle_(audio) {}
  std::unique_ptr<glmasr_audio, detail::AudioFree> handle_;
};

class Result {
 public:
  explicit Result(glmasr_result* result) : handle_(result) {}

  std::string text() const { return glmasr_result_text(handle_.get()); }
  double duration() const { return glmasr_result_duration(handle_.get()); }
  double seconds() const { return glmasr_result_seconds(handle_.get()); }
  std::vector<Segment> segments() const {
    std::vector<Segment> out;
    const size_t count = glmasr_result_segment_count(handle_.get());
    for (size_t i = 0; i < count; ++i) {
      glmasr_segment segment;
      detail::check(glmasr_result_segment(handle_.get(), i, &segment));
      out.push_back(Segment::from(segment));
    }
    return out;
  }
  // "txt", "json", "verbose_json", "srt" or "vtt": what `glmasr transcribe --format` writes.
  std::string render(const std::string& format) const {
    const char* document = nullptr;
    detail::check(glmasr_result_render(handle_.get(), format.c_str(), &document));
    return document;
  }
  const glmasr_result* get() const { return handle_.get(); }

 private:
  std::unique_ptr<glmasr_result, detail::ResultFree> handle_;
};

class Model {
 public:
  // model_dir empty: $GLMASR_MODEL, else ~/.cache/glmasr/GLM-ASR-Nano-2512.
  explicit Model(const std::string& model_dir = "", const ModelOptions& options = {}) {
    glmasr_model_options c;
    glmasr_model_options_init(&c);
    c.device = options.device.c_str();
    c.weights = options.weights.c_str();
    if (options.max_batch) c.max_batch = options.max_batch;
    if (options.max_new_tokens) c.max_new_tokens = options.max_new_tokens;
    c.kv_cache_gb = options.kv_cache_gb;
    c.threads = options.threads;
    glmasr_model* model = nullptr;
    detail::check(glmasr_model_open(model_dir.empty() ? nullptr : model_dir.c_str(), &c, &model));
    handle_.reset(model);
  }

  std::string describe() const { return glmasr_model_describe(handle_.get()); }

  Result transcribe(const Audio& audio, const TranscribeOptions& options = {}) {
    glmasr_transcribe_options c;
    glmasr_transcribe_options_init(&c);
    if (options.prompt) c.prompt = options.prompt->c_str();
    c.max_new_tokens = options.max_new_tokens;
    c.loop_guard = options.loop_guard ? 1 : 0;
    Callback callback{&options.on_segment, nullptr};
    if (options.on_segment) {
      c.on_segment = &Callback::call;
      c.user_data = &callback;
    }
    glmasr_result* result = nullptr;
    const glmasr_status status = glmasr_transcribe(handle_.get(), audio.get(), &c, &result);
    if (callback.thrown) std::rethrow_exception(callback.thrown);
    detail::check(status);
    return Result(result);
  }
  Result transcribe_file(const std::string& path, const TranscribeOptions& options = {}) {
    return transcribe(Audio::from_file(path), options);
  }

  glmasr_model* get() { return handle_.get(); }

 private:
  // Carries the std::function through the C callback; an exception stops and is rethrown.
  struct Callback {
    const std::function<bool(const Segment&)>* on_segment;
    std::exception_ptr thrown;
    static int call(const glmasr_segment* segment, void* user_data) {
      auto* self = static_cast<Callback*>(user_data);
      try {
        return (*self->on_segment)(Segment::from(*segment)) ? 0 : 1;
      } catch (...) {
        self->thrown = std::current_exception();
        return 1;
      }
    }
  };

  std::unique_ptr<glmasr_model, detail::ModelClose> handle_;
};

}  // namespace glmasr

#endif  // GLMASR_GLMASR_HPP
