// A one-line progress display on standard error that rewrites itself with '\r' on a terminal,
// and prints nothing at all when the stream is not a terminal (logs, pipes) or in quiet mode.
#pragma once

#include <chrono>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace glmasr {

// isatty() on the stream's descriptor.
bool is_terminal(FILE* stream);

// The '\r'-rewritten line itself; thread-safe. Disabled, every call does nothing.
class StatusLine {
 public:
  StatusLine(FILE* out, bool enabled) : out_(out), enabled_(enabled) {}
  ~StatusLine() { finish(); }
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  bool enabled() const { return enabled_; }
  // Replaces the line's text (padding with spaces to erase a longer previous text).
  void show(const std::string& text);
  // Ends the line with a newline if anything was shown; later show() calls start a new line.
  void finish();

 private:
  std::mutex mutex_;
  FILE* out_;
  bool enabled_;
  size_t shown_chars_ = 0;
  bool open_ = false;
};

struct ProgressOptions {
  bool quiet = false;
  // Overrides the isatty() check (tests).
  std::optional<bool> force_terminal;
  // Redraws at most this often; 0 redraws on every update (tests).
  double min_redraw_seconds = 0.1;
  // Seconds since some fixed point; the steady clock unless a test injects one.
  std::function<double()> clock;
};

// "12.0/3600.0 s audio, 850x real time, 4 s left": speed and time left appear once some audio
// is done and some time has passed.
std::string format_audio_progress(double done_seconds, double total_seconds,
                                  double elapsed_seconds);

// Progress over the audio of a whole run (all inputs together).
class AudioProgress {
 public:
  AudioProgress(double total_audio_seconds, FILE* out = stderr, ProgressOptions options = {});
  bool enabled() const { return line_.enabled(); }
  // Thread-safe: workers report the audio seconds they finished.
  void add_done(double audio_seconds);
  // Thread-safe: inputs whose length is known only once decoded add it to the total.
  void add_total(double audio_seconds);
  // Draws the final state and ends the line.
  void finish();
  double done_seconds() const;

 private:
  void draw_locked(bool force);
  double now() const;

  ProgressOptions options_;
  StatusLine line_;
  mutable std::mutex mutex_;
  double total_ = 0;
  double done_ = 0;
  double started_ = 0;
  double last_draw_ = -1e300;
  std::string last_text_;
  bool finished_ = false;
};

}  // namespace glmasr
