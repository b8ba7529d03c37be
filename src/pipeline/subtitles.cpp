#include "pipeline/subtitles.h"

#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace glmasr {

namespace {

struct FormatName {
  OutputFormat format;
  const char* name;
  const char* extension;
};

constexpr FormatName kFormats[] = {
    {OutputFormat::kTxt, "txt", "txt"},
    {OutputFormat::kJson, "json", "json"},
    {OutputFormat::kVerboseJson, "verbose_json", "verbose.json"},
    {OutputFormat::kSrt, "srt", "srt"},
    {OutputFormat::kVtt, "vtt", "vtt"},
};

const FormatName& lookup(OutputFormat format) {
  for (const auto& entry : kFormats)
    if (entry.format == format) return entry;
  fail("unknown output format value ", static_cast<int>(format));
}

bool is_continuation_byte(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

size_t count_chars(std::string_view text) {
  size_t count = 0;
  for (char c : text) count += is_continuation_byte(c) ? 0 : 1;
  return count;
}

// A piece of text that subtitles never break inside: a word, or a run of at most one line's
// characters of a word too long for a line (scripts without spaces, such as Chinese).
struct Piece {
  std::string text;
  bool space_before = false;
};

std::vector<Piece> split_into_pieces(std::string_view text, size_t max_piece_chars) {
  std::vector<Piece> pieces;
  bool pending_space = false;
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      pending_space = true;
      ++i;
      continue;
    }
    size_t word_end = i;
    while (word_end < text.size() && text[word_end] != ' ' && text[word_end] != '\n' &&
           text[word_end] != '\r' && text[word_end] != '\t')
      ++word_end;
    // Cut over-long words at code point boundaries, never inside a UTF-8 sequence.
    bool first = true;
    size_t start = i;
    while (start < word_end) {
      size_t end = start, chars = 0;
      while (end < word_end && (chars < max_piece_chars || is_continuation_byte(text[end]))) {
        if (!is_continuation_byte(text[end])) ++chars;
        ++end;
      }
      pieces.push_back({std::string(text.substr(start, end - start)),
                        first && pending_space && !pieces.empty()});
      first = false;
      start = end;
    }
    pending_space = false;
    i = word_end;
  }
  return pieces;
}

size_t joined_chars(const std::vector<Piece>& pieces, size_t begin, size_t end) {
  size_t chars = 0;
  for (size_t i = begin; i < end; ++i)
    chars += count_chars(pieces[i].text) + (i > begin && pieces[i].space_before ? 1 : 0);
  return chars;
}

std::vector<std::string> wrap_lines(const std::vector<Piece>& pieces, size_t begin, size_t end,
                                    size_t max_line_chars) {
  std::vector<std::string> lines;
  std::string line;
  size_t line_chars = 0;
  for (size_t i = begin; i < end; ++i) {
    const size_t chars = count_chars(pieces[i].text);
    const size_t gap = (line.empty() || !pieces[i].space_before) ? 0 : 1;
    if (!line.empty() && max_line_chars > 0 && line_chars + gap + chars > max_line_chars) {
      lines.push_back(line);
      line.clear();
      line_chars = 0;
    }
    if (!line.empty() && pieces[i].space_before) {
      line += ' ';
      ++line_chars;
    }
    line += pieces[i].text;
    line_chars += chars;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

double round_millis(double seconds) {
  return std::round(seconds * 1000.0) / 1000.0;
}

std::string escape_vtt(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&')
      out += "&amp;";
    else if (c == '<')
      out += "&lt;";
    else if (c == '>')
      out += "&gt;";
    else
      out += c;
  }
  return out;
}

std::vector<int> all_tokens(const Transcript& transcript) {
  std::vector<int> tokens;
  for (const auto& segment : transcript.segments)
    tokens.insert(tokens.end(), segment.tokens.begin(), segment.tokens.end());
  return tokens;
}

// Model output may hold broken UTF-8 (a multi-byte character cut by the token limit): replace
// it rather than fail the whole output.
std::string dump_line(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

std::string render_subtitles(const Transcript& transcript, bool vtt,
                             const SubtitleOptions& options) {
  std::string out = vtt ? "WEBVTT\n\n" : "";
  int index = 0;
  for (const auto& cue : make_cues(transcript, options)) {
    ++index;
    if (!vtt) out += std::to_string(index) + "\n";
    const char separator = vtt ? '.' : ',';
    out += format_timestamp(cue.start, separator) + " --> " + format_timestamp(cue.end, separator) +
           "\n";
    for (const auto& line : cue.lines) out += (vtt ? escape_vtt(line) : line) + "\n";
    out += "\n";
  }
  return out;
}

}  // namespace

OutputFormat parse_output_format(std::string_view name) {
  std::string accepted;
  for (const auto& entry : kFormats) {
    if (name == entry.name) return entry.format;
    accepted += accepted.empty() ? "" : ", ";
    accepted += entry.name;
  }
  fail("output format: expected one of ", accepted, ", got '", name, "'");
}

std::string format_name(OutputFormat format) {
  return lookup(format).name;
}
std::string format_extension(OutputFormat format) {
  return lookup(format).extension;
}

std::string format_timestamp(double seconds, char millis_separator) {
  const long long total_ms =
      std::isfinite(seconds) && seconds > 0 ? std::llround(seconds * 1000.0) : 0;
  const long long ms = total_ms % 1000, total_s = total_ms / 1000;
  char buffer[48];
  std::snprintf(buffer, sizeof buffer, "%02lld:%02lld:%02lld%c%03lld", total_s / 3600,
                (total_s / 60) % 60, total_s % 60, millis_separator, ms);
  return buffer;
}

std::vector<SubtitleCue> make_cues(const Transcript& transcript, const SubtitleOptions& options) {
  GLMASR_CHECK(options.max_cue_chars >= 0 && options.max_line_chars >= 0,
               "subtitle options: expected non-negative lengths, got max_cue_chars ",
               options.max_cue_chars, ", max_line_chars ", options.max_line_chars);
  const size_t max_cue = static_cast<size_t>(options.max_cue_chars);
  const size_t max_line = static_cast<size_t>(options.max_line_chars);
  const size_t max_lines = static_cast<size_t>(std::max(0, options.max_lines));
  size_t max_piece = max_line > 0 ? max_line : max_cue;
  if (max_cue > 0 && max_cue < max_piece) max_piece = max_cue;
  if (max_piece == 0) max_piece = SIZE_MAX;

  std::vector<SubtitleCue> cues;
  for (const auto& segment : transcript.segments) {
    const auto pieces = split_into_pieces(segment.text, max_piece);
    if (pieces.empty()) continue;
    // Group pieces into cues of at most max_cue characters each.
    std::vector<std::pair<size_t, size_t>> groups;
    size_t begin = 0;
    for (size_t i = 1; i <= pieces.size(); ++i) {
      const bool too_long =
          i < pieces.size() &&
          ((max_cue > 0 && joined_chars(pieces, begin, i + 1) > max_cue) ||
           (max_lines > 0 && wrap_lines(pieces, begin, i + 1, max_line).size() > max_lines));
      if (i == pieces.size() || too_long) {
        groups.push_back({begin, i});
        begin = i;
      }
    }
    // Share the segment's time out by character count, so reading speed stays even.
    std::vector<size_t> group_chars;
    size_t total_chars = 0;
    for (const auto& [first, last] : groups) {
      group_chars.push_back(std::max<size_t>(1, joined_chars(pieces, first, last)));
      total_chars += group_chars.back();
    }
    const double start = std::max(0.0, segment.start);
    const double duration = std::max(0.0, segment.end - start);
    size_t chars_before = 0;
    for (size_t k = 0; k < groups.size(); ++k) {
      SubtitleCue cue;
      cue.start = start + duration * static_cast<double>(chars_before) / total_chars;
      chars_before += group_chars[k];
      cue.end = k + 1 == groups.size()
                    ? start + duration
                    : start + duration * static_cast<double>(chars_before) / total_chars;
      cue.lines = wrap_lines(pieces, groups[k].first, groups[k].second, max_line);
      cues.push_back(std::move(cue));
    }
  }
  return cues;
}

std::string render_transcript(const Transcript& transcript, OutputFormat format,
                              const SubtitleOptions& options) {
  switch (format) {
    case OutputFormat::kTxt:
      return transcript.text + "\n";
    case OutputFormat::kJson:
      return dump_line({{"file", transcript.source},
                        {"text", transcript.text},
                        {"tokens", all_tokens(transcript)},
                        {"duration", round_millis(transcript.duration)}});
    case OutputFormat::kVerboseJson: {
      nlohmann::json segments = nlohmann::json::array();
      for (const auto& segment : transcript.segments)
        segments.push_back({{"id", segment.id},
                            {"start", round_millis(segment.start)},
                            {"end", round_millis(segment.end)},
                            {"text", segment.text},
                            {"tokens", segment.tokens},
                            {"avg_logprob", segment.avg_logprob},
                            {"loop_detected", segment.loop_detected},
                            {"stop_reason", segment.stop_reason}});
      return dump_line({{"file", transcript.source},
                        {"duration", round_millis(transcript.duration)},
                        {"text", transcript.text},
                        {"segments", std::move(segments)}});
    }
    case OutputFormat::kSrt:
      return render_subtitles(transcript, false, options);
    case OutputFormat::kVtt:
      return render_subtitles(transcript, true, options);
  }
  fail("unknown output format value ", static_cast<int>(format));
}

}  // namespace glmasr
