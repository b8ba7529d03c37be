// Detecting the decoder's repetition loops ("thank you thank you thank you ...") while a segment
// is being generated, so the segment can end early instead of running to the token limit.
//
// Two tests, either of which trips the guard:
// - token periodicity: the newest tokens repeat with some period p (1..max_period) over a span of
//   at least max(min_loop_tokens, min_repeats * p) tokens;
// - compression ratio of the decoded text (as Whisper does): repeated text compresses far better
//   than speech, so bytes / zlib-compressed bytes above max_compression_ratio means a loop.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

struct LoopGuardOptions {
  int max_period = 32;       // longest repeated n-gram looked for, in tokens
  int min_loop_tokens = 24;  // a loop must span at least this many tokens ...
  int min_repeats = 3;       // ... and at least this many copies of its n-gram
  double max_compression_ratio = 2.4;
  // Short texts compress badly whatever they hold; the ratio test waits for this many bytes.
  size_t min_text_bytes = 120;
};

// bytes / zlib-compressed bytes (default level); 0 for empty text.
double compression_ratio(std::string_view text);

class LoopGuard {
 public:
  explicit LoopGuard(const LoopGuardOptions& options = {});

  // Adds the next generated token; true once a token loop is found, and from then on (also
  // after check_text tripped).
  bool push(int token);
  // Applies the compression-ratio test to the text decoded so far; true once tripped.
  bool check_text(std::string_view decoded_text);

  bool triggered() const { return !reason_.empty(); }
  // Why it tripped, e.g. "tokens repeat with period 3 over 24 tokens"; empty when it has not.
  const std::string& reason() const { return reason_; }
  // The period found by push(), 0 if none (or the text test tripped).
  int period() const { return period_; }
  size_t tokens_seen() const { return tokens_.size(); }
  // Forgets all tokens, for the next segment.
  void reset();

 private:
  LoopGuardOptions options_;
  std::vector<int> tokens_;
  // run_[p]: how many of the newest tokens equal the token p positions before them.
  std::vector<int> run_;
  std::string reason_;
  int period_ = 0;
};

}  // namespace glmasr
