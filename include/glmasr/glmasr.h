/* glmasr: speech recognition with GLM-ASR-Nano-2512, as a C library.
 *
 * Every function returns a glmasr_status (or a value documented below) and never lets a C++
 * exception escape. When a call fails, glmasr_last_error() returns its message on the calling
 * thread until that thread's next glmasr call.
 *
 * Thread safety: one glmasr_model may be used by any number of threads at once; their
 * transcriptions share the model's engine loop and are decoded in the same batches.
 * glmasr_model_close must not run while another call uses the model. glmasr_audio and
 * glmasr_result objects are immutable once made and may be read from any thread.
 *
 * Lifetimes: strings and arrays returned by accessors belong to the object they were read from
 * and stay valid until it is freed. A glmasr_segment passed to a callback is valid during the
 * call only.
 */
#ifndef GLMASR_GLMASR_H
#define GLMASR_GLMASR_H

#include <stddef.h>
#include <stdint.h>

#if defined(GLMASR_BUILDING_LIBRARY)
#define GLMASR_API __attribute__((visibility("default")))
#else
#define GLMASR_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef enum glmasr_status {
  GLMASR_OK = 0,
  GLMASR_ERROR_INVALID_ARGUMENT = 1, /* a null pointer, an unknown option value */
  GLMASR_ERROR_INPUT = 2,            /* the audio or a per-call option was bad */
  GLMASR_ERROR_MODEL = 3,            /* the model folder could not be loaded */
  GLMASR_ERROR_ENGINE = 4,           /* the engine failed this transcription */
  GLMASR_ERROR_DEVICE = 5,           /* a GPU fault: the model is unusable, close it */
  GLMASR_ERROR_CANCELLED = 6,        /* a segment callback asked to stop */
  GLMASR_ERROR_OUT_OF_MEMORY = 7,
  GLMASR_ERROR_INTERNAL = 8
} glmasr_status;

typedef struct glmasr_model glmasr_model;
typedef struct glmasr_audio glmasr_audio;
typedef struct glmasr_result glmasr_result;

/* "0.1.0": the library's version. */
GLMASR_API const char* glmasr_version(void);
/* The message of the calling thread's last failed call ("" when it succeeded). */
GLMASR_API const char* glmasr_last_error(void);
/* "ok", "invalid_argument", "input", ...: a status as text. */
GLMASR_API const char* glmasr_status_name(glmasr_status status);

/* ---- model ---------------------------------------------------------------------------- */

typedef struct glmasr_model_options {
  const char* device;  /* "auto" (CUDA when a GPU is present), "cpu" or "cuda"; NULL: "auto" */
  /* "bf16" or "fp16" (the GPU's precision), or "fp8": the decoder's projections and lm_head
   * quantized at load to E4M3 with per-row scales, bf16 activations (CPU engine too). NULL: "bf16" */
  const char* weights;
  int max_batch;       /* sequences decoded together; 0: 32 */
  /* The most new tokens a transcription may ask for per segment: KV slots are sized for one
   * 30 s segment, a prompt of up to 224 tokens and this many new tokens. 0: 500. */
  int max_new_tokens;
  double kv_cache_gb; /* KV cache budget: fewer slots than max_batch if it is smaller; 0: none */
  int threads;        /* CPU engine worker threads; 0: all cores */
} glmasr_model_options;

/* Fills the defaults above. */
GLMASR_API void glmasr_model_options_init(glmasr_model_options* options);

/* Loads a model folder (config.json, tokenizer.json, model.safetensors). model_dir NULL: the
 * folder in $GLMASR_MODEL, else ~/.cache/glmasr/GLM-ASR-Nano-2512. options NULL: defaults. */
GLMASR_API glmasr_status glmasr_model_open(const char* model_dir,
                                           const glmasr_model_options* options,
                                           glmasr_model** model);
/* Finishes the transcriptions in flight, then frees the model. NULL is ignored. */
GLMASR_API void glmasr_model_close(glmasr_model* model);
/* The engine in words, e.g. "cpu (float32, 16 threads)". */
GLMASR_API const char* glmasr_model_describe(const glmasr_model* model);

/* ---- audio ---------------------------------------------------------------------------- */

/* Decoded audio ready for the model (mono, 16 kHz). */
/* Any file libsndfile reads: WAV, FLAC, Ogg Vorbis/Opus, MP3. */
GLMASR_API glmasr_status glmasr_audio_from_file(const char* path, glmasr_audio** audio);
/* An encoded file held in memory; name (NULL: "buffer") names it in errors. */
GLMASR_API glmasr_status glmasr_audio_from_encoded(const void* data, size_t size, const char* name,
                                                   glmasr_audio** audio);
/* PCM samples, interleaved when channels > 1, at any sample rate: mixed down and resampled.
 * frames counts samples per channel. */
GLMASR_API glmasr_status glmasr_audio_from_f32(const float* samples, size_t frames, int sample_rate,
                                               int channels, glmasr_audio** audio);
GLMASR_API glmasr_status glmasr_audio_from_s16(const int16_t* samples, size_t frames,
                                               int sample_rate, int channels, glmasr_audio** audio);
GLMASR_API double glmasr_audio_seconds(const glmasr_audio* audio);
GLMASR_API void glmasr_audio_free(glmasr_audio* audio);

/* ---- transcription -------------------------------------------------------------------- */

typedef struct glmasr_segment {
  int id;
  double start; /* seconds from the start of the audio */
  double end;
  const char* text;
  const int32_t* tokens; /* generated token ids, without the stop token */
  size_t token_count;
  double avg_logprob;      /* mean log-probability of the tokens */
  int loop_detected;       /* 1 when the loop guard ended the segment */
  const char* stop_reason; /* "eos", "length", "loop", "silence", "too_short" */
} glmasr_segment;

/* Called with each segment, in order, as soon as it is decoded, on the thread that called
 * glmasr_transcribe*. Returning nonzero stops the transcription (GLMASR_ERROR_CANCELLED). */
typedef int (*glmasr_segment_callback)(const glmasr_segment* segment, void* user_data);

typedef struct glmasr_transcribe_options {
  const char* prompt; /* replaces "Please transcribe this audio into text"; NULL: that */
  int max_new_tokens; /* per segment; 0: the model's max_new_tokens */
  int loop_guard;     /* nonzero: end segments that repeat themselves (default 1) */
  glmasr_segment_callback on_segment; /* NULL: none */
  void* user_data;                    /* passed to on_segment */
} glmasr_transcribe_options;

GLMASR_API void glmasr_transcribe_options_init(glmasr_transcribe_options* options);

/* Transcribes decoded audio; blocks until done. options NULL: defaults. */
GLMASR_API glmasr_status glmasr_transcribe(glmasr_model* model, const glmasr_audio* audio,
                                           const glmasr_transcribe_options* options,
                                           glmasr_result** result);
/* Shorthands: decode, then transcribe. */
GLMASR_API glmasr_status glmasr_transcribe_file(glmasr_model* model, const char* path,
                                                const glmasr_transcribe_options* options,
                                                glmasr_result** result);
GLMASR_API glmasr_status glmasr_transcribe_encoded(glmasr_model* model, const void* data,
                                                   size_t size,
                                                   const glmasr_transcribe_options* options,
                                                   glmasr_result** result);
GLMASR_API glmasr_status glmasr_transcribe_f32(glmasr_model* model, const float* samples,
                                               size_t frames, int sample_rate, int channels,
                                               const glmasr_transcribe_options* options,
                                               glmasr_result** result);
GLMASR_API glmasr_status glmasr_transcribe_s16(glmasr_model* model, const int16_t* samples,
                                               size_t frames, int sample_rate, int channels,
                                               const glmasr_transcribe_options* options,
                                               glmasr_result** result);

/* ---- results -------------------------------------------------------------------------- */

/* The segment texts joined: what `glmasr transcribe` prints. */
GLMASR_API const char* glmasr_result_text(const glmasr_result* result);
GLMASR_API double glmasr_result_duration(const glmasr_result* result); /* seconds of audio */
/* Wall-clock seconds glmasr_transcribe took. */
GLMASR_API double glmasr_result_seconds(const glmasr_result* result);
GLMASR_API size_t glmasr_result_segment_count(const glmasr_result* result);
/* Fills *segment with segment `index` (< glmasr_result_segment_count). */
GLMASR_API glmasr_status glmasr_result_segment(const glmasr_result* result, size_t index,
                                               glmasr_segment* segment);
/* The whole document in one of `glmasr transcribe --format`'s formats: "txt", "json",
 * "verbose_json", "srt", "vtt". Owned by the result. */
GLMASR_API glmasr_status glmasr_result_render(const glmasr_result* result, const char* format,
                                              const char** document);
GLMASR_API void glmasr_result_free(glmasr_result* result);

#ifdef __cplusplus
}
#endif

#endif /* GLMASR_GLMASR_H */
