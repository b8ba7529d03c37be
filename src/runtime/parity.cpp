#include "runtime/parity.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "core/error.h"
#include "io/safetensors.h"
#include "runtime/sampling.h"

namespace glmasr {

namespace {

std::vector<int32_t> to_int32(const std::vector<int64_t>& values) {
  return std::vector<int32_t>(values.begin(), values.end());
}

StageError measure(const std::string& stage, const float* ours, const float* ref, int64_t count) {
  double diff = 0, norm = 0, worst = 0;
  for (int64_t i = 0; i < count; ++i) {
    const double d = static_cast<double>(ours[i]) - ref[i];
    diff += d * d;
    norm += static_cast<double>(ref[i]) * ref[i];
    worst = std::max(worst, std::fabs(d));
    if (std::isnan(ours[i])) worst = diff = INFINITY;
  }
  return {stage, norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff), worst};
}

StageError measure(const std::string& stage, const FloatTensor& ours, const FloatTensor& ref) {
  GLMASR_CHECK(ours.shape() == ref.shape(), stage, ": shape ", shape_str(ours.shape()),
               " differs from the reference ", shape_str(ref.shape()));
  return measure(stage, ours.data(), ref.data(), ours.numel());
}

}  // namespace

ReferenceDump read_reference_dump(const std::string& path) {
  const SafetensorsFile file(path);
  ReferenceDump dump;
  dump.path = path;
  dump.mel.features = to_float(file.view("input_features"), path);
  dump.mel.valid_frames = to_int64(file.view("window_frames"), path);
  dump.encoder_output = to_float(file.view("encoder_output"), path);
  dump.audio_embeds = to_float(file.view("audio_embeds"), path);
  dump.logits = to_float(file.view("logits"), path);
  dump.margins = to_float(file.view("margins"), path);
  dump.prompt_ids = to_int32(to_int64(file.view("prompt_ids"), path));
  dump.tokens = to_int32(to_int64(file.view("tokens"), path));
  GLMASR_CHECK(dump.logits.rank() == 2 && dump.logits.dim(0) == int64_t(dump.tokens.size()), path,
               ": logits rows must match the token count");
  return dump;
}

ParityReport compare_with_reference(Engine& engine, const ReferenceDump& ref,
                                    float margin_threshold) {
  ParityReport report;
  report.stages.push_back(
      measure("encoder_output", engine.encoder_output(ref.mel), ref.encoder_output));
  report.stages.push_back(
      measure("audio_embeds", engine.audio_embeddings(ref.mel), ref.audio_embeds));
  // Teacher forcing: feed the reference tokens so every step is compared on the same history.
  const std::vector<int32_t> forced(ref.tokens.begin(), ref.tokens.end() - 1);
  const FloatTensor logits = engine.teacher_forced_logits(ref.mel, ref.prompt_ids, forced);
  const int64_t V = ref.logits.dim(1);
  GLMASR_CHECK(logits.dim(1) == V, "logits width ", logits.dim(1), " differs from the reference ",
               V);
  report.decisive_steps = static_cast<int>(ref.tokens.size());
  for (size_t s = 0; s < ref.tokens.size(); ++s) {
    const StageError e = measure("logits", logits.data() + s * V, ref.logits.data() + s * V, V);
    StepComparison step;
    step.step = static_cast<int>(s);
    step.reference_token = ref.tokens[s];
    step.our_token = greedy_choice(logits.data() + s * V, V).token;
    step.reference_margin = ref.margins[static_cast<int64_t>(s)];
    step.logits_relative = e.relative;
    step.logits_max_abs = e.max_abs;
    if (step.reference_margin < margin_threshold && report.decisive_steps > int(s))
      report.decisive_steps = static_cast<int>(s);
    if (step.our_token != step.reference_token && report.first_mismatch < 0)
      report.first_mismatch = static_cast<int>(s);
    if (step.reference_margin > margin_threshold) {
      ++report.clear_steps;
      report.clear_mismatches += step.our_token != step.reference_token;
    }
    report.steps.push_back(step);
  }
  report.stages.push_back(measure("logits", logits, ref.logits));
  return report;
}

bool ParityReport::passed(double stage_tolerance) const {
  for (const auto& stage : stages)
    if (!(stage.relative <= stage_tolerance)) return false;
  return clear_mismatches == 0 && (first_mismatch < 0 || first_mismatch >= decisive_steps);
}

std::string ParityReport::format() const {
  std::ostringstream out;
  out.precision(3);
  out << "stage            rel.err     max.abs\n";
  for (const auto& s : stages)
    out << "  " << s.stage << std::string(15 - std::min<size_t>(15, s.stage.size()), ' ')
        << std::scientific << s.relative << "  " << s.max_abs << "\n";
  out << "step  ref.token  our.token  ref.margin  logits.rel  logits.maxabs\n";
  for (const auto& s : steps)
    out << "  " << s.step << "\t" << s.reference_token << "\t" << s.our_token << "\t" << std::fixed
        << s.reference_margin << "\t" << std::scientific << s.logits_relative << "\t"
        << s.logits_max_abs << (s.our_token != s.reference_token ? "  MISMATCH" : "") << "\n";
  out << "greedy tokens agree on " << (first_mismatch < 0 ? int(steps.size()) : first_mismatch)
      << " of " << steps.size() << " steps; " << decisive_steps
      << " come before the first reference margin under the threshold; " << clear_steps
      << " steps have a margin above it, " << clear_mismatches << " of them differ\n";
  return out.str();
}

}  // namespace glmasr
