// What the C API's opaque handles hold. The model owns the engine, its loop, the tokenizer and
// the segment planner (log-mel threads, FFT plan); every transcription makes its own
// Transcriber on them (a Transcriber's options are fixed, and the options are per call), so
// concurrent calls share one decoding batch and one planner.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "audio/audio_file.h"
#include "engine/engine.h"
#include "pipeline/segment_planner.h"
#include "pipeline/transcript.h"
#include "runtime/engine_loop.h"
#include "text/tokenizer.h"

struct glmasr_model {
  std::unique_ptr<glmasr::Engine> engine;
  std::unique_ptr<glmasr::Tokenizer> tokenizer;
  std::shared_ptr<const glmasr::SegmentPlanner> planner;  // refers to the tokenizer and config
  std::unique_ptr<glmasr::EngineLoop> loop;  // declared last: stopped before the engine goes
  std::string description;
  int max_new_tokens = 0;  // the most a call may ask for: what the KV slots were sized for
};

struct glmasr_audio {
  glmasr::Audio audio;
};

struct glmasr_result {
  glmasr::Transcript transcript;
  double seconds = 0;
  mutable std::mutex render_mutex;
  mutable std::map<std::string, std::string> documents;  // rendered formats, kept for the caller
};
