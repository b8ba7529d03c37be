// Comparing an engine with a transformers reference dump (the golden format written by
// tools/glmasr_reference.py): per-stage errors, teacher-forced logits per step, and whether the
// greedy tokens agree up to the first step whose reference top-2 margin is too small to call.
#pragma once

#include <string>
#include <vector>

#include "audio/mel_windows.h"
#include "core/tensor.h"
#include "engine/engine.h"

namespace glmasr {

struct ReferenceDump {
  std::string path;
  MelWindows mel;              // input_features + window_frames
  FloatTensor encoder_output;  // [W, 1500, H]
  FloatTensor audio_embeds;    // [N, D]
  FloatTensor logits;          // [S, V]
  FloatTensor margins;         // [S]
  std::vector<int32_t> prompt_ids;
  std::vector<int32_t> tokens;  // [S], the stop token included when one came
};

// Throws glmasr::Error naming the file and the missing tensor.
ReferenceDump read_reference_dump(const std::string& path);

struct StageError {
  std::string stage;
  double relative = 0;  // ||ours - ref|| / ||ref||
  double max_abs = 0;
};

struct StepComparison {
  int step = 0;
  int32_t reference_token = 0;
  int32_t our_token = 0;  // argmax of our teacher-forced logits
  float reference_margin = 0;
  double logits_relative = 0;
  double logits_max_abs = 0;
};

struct ParityReport {
  std::vector<StageError> stages;
  std::vector<StepComparison> steps;
  int decisive_steps = 0;   // steps before the first reference margin under the threshold
  int first_mismatch = -1;  // first step whose greedy token differs (-1: none)
  // With teacher forcing every step sees the reference's history, so each step can be judged
  // alone: steps whose reference margin exceeds the threshold, and how many of them differ.
  int clear_steps = 0;
  int clear_mismatches = 0;
  // Stage errors are within tolerance, tokens agree on every step before the first small
  // margin, and on every step whose margin exceeds the threshold.
  bool passed(double stage_tolerance) const;
  std::string format() const;
};

ParityReport compare_with_reference(Engine& engine, const ReferenceDump& reference,
                                    float margin_threshold);

}  // namespace glmasr
