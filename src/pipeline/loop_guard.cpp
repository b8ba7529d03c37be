#include "pipeline/loop_guard.h"

#include <zlib.h>

#include <algorithm>

#include "core/error.h"

namespace glmasr {

double compression_ratio(std::string_view text) {
  if (text.empty()) return 0.0;
  uLongf compressed_size = compressBound(static_cast<uLong>(text.size()));
  std::vector<Bytef> compressed(compressed_size);
  const int status =
      compress2(compressed.data(), &compressed_size, reinterpret_cast<const Bytef*>(text.data()),
                static_cast<uLong>(text.size()), Z_DEFAULT_COMPRESSION);
  GLMASR_CHECK(status == Z_OK, "compression_ratio: zlib compress2 failed with status ", status);
  return static_cast<double>(text.size()) / static_cast<double>(compressed_size);
}

LoopGuard::LoopGuard(const LoopGuardOptions& options) : options_(options) {
  GLMASR_CHECK(options.max_period >= 1 && options.min_loop_tokens >= 2 && options.min_repeats >= 2,
               "loop guard: expected max_period >= 1, min_loop_tokens >= 2, min_repeats >= 2, got ",
               options.max_period, ", ", options.min_loop_tokens, ", ", options.min_repeats);
  run_.assign(options.max_period + 1, 0);
}

bool LoopGuard::push(int token) {
  tokens_.push_back(token);
  if (triggered()) return true;
  const int n = static_cast<int>(tokens_.size());
  for (int p = 1; p <= options_.max_period; ++p) {
    if (n <= p) break;
    run_[p] = tokens_[n - 1] == tokens_[n - 1 - p] ? run_[p] + 1 : 0;
    // The periodic stretch is the p tokens of the first copy plus the run that repeats them.
    const int span = run_[p] + p;
    if (run_[p] > 0 && span >= std::max(options_.min_loop_tokens, options_.min_repeats * p)) {
      period_ = p;
      reason_ = cat("tokens repeat with period ", p, " over ", span, " tokens");
      return true;
    }
  }
  return false;
}

bool LoopGuard::check_text(std::string_view decoded_text) {
  if (triggered()) return true;
  if (decoded_text.size() < options_.min_text_bytes) return false;
  const double ratio = compression_ratio(decoded_text);
  if (ratio > options_.max_compression_ratio) {
    reason_ = cat("text compression ratio ", ratio, " > ", options_.max_compression_ratio);
    return true;
  }
  return false;
}

void LoopGuard::reset() {
  tokens_.clear();
  std::fill(run_.begin(), run_.end(), 0);
  reason_.clear();
  period_ = 0;
}

}  // namespace glmasr
