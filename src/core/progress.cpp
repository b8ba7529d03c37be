#include "core/progress.h"

#include <unistd.h>

#include <cmath>

#include "core/error.h"

namespace glmasr {

bool is_terminal(FILE* stream) {
  return stream && ::isatty(::fileno(stream)) == 1;
}

void StatusLine::show(const std::string& text) {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  std::string line = "\r" + text;
  if (text.size() < shown_chars_) line.append(shown_chars_ - text.size(), ' ');
  std::fputs(line.c_str(), out_);
  std::fflush(out_);
  shown_chars_ = text.size();
  open_ = true;
}

void StatusLine::finish() {
  if (!enabled_) return;
  std::lock_guard lock(mutex_);
  if (!open_) return;
  std::fputc('\n', out_);
  std::fflush(out_);
  open_ = false;
  shown_chars_ = 0;
}

std::string format_audio_progress(double done_seconds, double total_seconds,
                                  double elapsed_seconds) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, "%.1f/%.1f s audio", done_seconds, total_seconds);
  std::string text = buffer;
  if (done_seconds > 0 && elapsed_seconds > 0) {
    const double speed = done_seconds / elapsed_seconds;
    const double left = std::max(0.0, total_seconds - done_seconds) / speed;
    // Below 10x one decimal still says something; above it, whole multiples read better.
    if (speed < 10)
      std::snprintf(buffer, sizeof buffer, ", %.1fx real time, %.0f s left", speed,
                    std::round(left));
    else
      std::snprintf(buffer, sizeof buffer, ", %.0fx real time, %.0f s left", speed,
                    std::round(left));
    text += buffer;
  }
  return text;
}

AudioProgress::AudioProgress(double total_audio_seconds, FILE* out, ProgressOptions options)
    : options_(std::move(options)),
      line_(out, !options_.quiet && options_.force_terminal.value_or(is_terminal(out))),
      total_(total_audio_seconds) {
  started_ = now();
}

double AudioProgress::now() const {
  if (options_.clock) return options_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void AudioProgress::add_done(double audio_seconds) {
  std::lock_guard lock(mutex_);
  done_ += audio_seconds;
  if (!finished_) draw_locked(false);
}

void AudioProgress::add_total(double audio_seconds) {
  std::lock_guard lock(mutex_);
  total_ += audio_seconds;
  if (!finished_) draw_locked(false);
}

double AudioProgress::done_seconds() const {
  std::lock_guard lock(mutex_);
  return done_;
}

void AudioProgress::finish() {
  std::lock_guard lock(mutex_);
  if (finished_) return;
  finished_ = true;
  draw_locked(true);
  line_.finish();
}

void AudioProgress::draw_locked(bool force) {
  if (!line_.enabled()) return;
  const double t = now();
  if (!force && t - last_draw_ < options_.min_redraw_seconds) return;
  last_draw_ = t;
  std::string text = format_audio_progress(done_, total_, t - started_);
  if (text == last_text_)
    return;  // nothing new to show (e.g. finish() right after the last update)
  line_.show(text);
  last_text_ = std::move(text);
}

}  // namespace glmasr
