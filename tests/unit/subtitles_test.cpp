#include "pipeline/subtitles.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "testing/testing.h"

namespace glmasr {
namespace {

using nlohmann::json;

size_t code_points(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

Transcript sample_transcript() {
  Transcript transcript;
  transcript.source = "talk.wav";
  transcript.duration = 75.5;
  TranscriptSegment first;
  first.id = 0;
  first.start = 0.0;
  first.end = 29.52;
  first.text =
      "And so my fellow Americans, ask not what your country can do for you, ask what you can do "
      "for your country. My fellow citizens of the world, ask not what America will do for you.";
  first.tokens = {1, 2, 3};
  first.avg_logprob = -0.25;
  first.stop_reason = "eos";
  TranscriptSegment silence;
  silence.id = 1;
  silence.start = 29.52;
  silence.end = 59.0;
  silence.stop_reason = "silence";
  TranscriptSegment last;
  last.id = 2;
  last.start = 59.0;
  last.end = 75.5;
  last.text = "Tags <b>like</b> this & arrows --> stay text.";
  last.tokens = {4, 5};
  last.avg_logprob = -1.5;
  last.loop_detected = true;
  last.stop_reason = "loop";
  transcript.segments = {first, silence, last};
  transcript.text = first.text + " " + last.text;
  return transcript;
}

TEST(OutputFormat, ParsesEveryNameAndRejectsOthersClearly) {
  for (const char* name : {"txt", "json", "verbose_json", "srt", "vtt"})
    EXPECT_EQ(format_name(parse_output_format(name)), name);
  EXPECT_EQ(format_extension(OutputFormat::kVerboseJson), "verbose.json");  // not json's
  EXPECT_EQ(format_extension(OutputFormat::kVtt), "vtt");
  try {
    parse_output_format("xml");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "output format: expected one of txt, json, verbose_json, srt, vtt, got 'xml'");
  }
  EXPECT_THROW(parse_output_format("SRT"), Error);
}

TEST(Timestamps, FormatHoursMinutesSecondsMillis) {
  EXPECT_EQ(format_timestamp(0.0, ','), "00:00:00,000");
  EXPECT_EQ(format_timestamp(3661.2346, ','), "01:01:01,235");
  EXPECT_EQ(format_timestamp(3661.2346, '.'), "01:01:01.235");
  EXPECT_EQ(format_timestamp(59.9996, ','), "00:01:00,000");  // rounding carries
  EXPECT_EQ(format_timestamp(-3.0, ','), "00:00:00,000");
  EXPECT_EQ(format_timestamp(360000.0, '.'), "100:00:00.000");
}

TEST(Cues, SplitLongSegmentsIntoShortTimedCues) {
  const auto cues = make_cues(sample_transcript());
  ASSERT_GE(cues.size(), 4u);  // 176 characters in 84-character cues, plus the last segment
  double previous_end = 0.0;
  std::string rejoined;
  for (size_t i = 0; i + 1 < cues.size(); ++i) {
    const auto& cue = cues[i];
    EXPECT_DOUBLE_EQ(cue.start, previous_end) << "cues of a segment are contiguous";
    EXPECT_GT(cue.end, cue.start);
    previous_end = cue.end;
    size_t chars = 0;
    for (const auto& line : cue.lines) {
      EXPECT_LE(code_points(line), 42u) << line;
      EXPECT_FALSE(line.empty());
      chars += code_points(line) + 1;
      rejoined += (rejoined.empty() ? "" : " ") + line;
    }
    EXPECT_LE(chars - 1, 84u);
    EXPECT_LE(cue.lines.size(), 2u);
  }
  EXPECT_DOUBLE_EQ(previous_end, 29.52) << "the split cues end with their segment";
  EXPECT_EQ(rejoined, sample_transcript().segments[0].text);
  // The silent segment has no cue; the last cue is the last segment, whole.
  EXPECT_DOUBLE_EQ(cues.back().start, 59.0);
  EXPECT_DOUBLE_EQ(cues.back().end, 75.5);
}

TEST(Cues, SplitTextWithoutSpacesAtCharacterBoundaries) {
  Transcript transcript;
  TranscriptSegment segment;
  segment.end = 10.0;
  for (int i = 0; i < 100; ++i) segment.text += "\xE4\xBD\xA0\xE5\xA5\xBD";  // 200 characters
  transcript.segments = {segment};
  const auto cues = make_cues(transcript);
  std::string rejoined;
  for (const auto& cue : cues)
    for (const auto& line : cue.lines) {
      EXPECT_LE(code_points(line), 42u);
      EXPECT_EQ(line.size() % 3, 0u) << "a character was cut";
      rejoined += line;
    }
  EXPECT_EQ(rejoined, segment.text) << "no spaces added between pieces";
  EXPECT_GE(cues.size(), 3u);
}

TEST(Cues, ZeroLimitsKeepOneCuePerSegment) {
  const auto cues = make_cues(sample_transcript(), {.max_cue_chars = 0, .max_line_chars = 0});
  ASSERT_EQ(cues.size(), 2u);
  EXPECT_EQ(cues[0].lines, std::vector<std::string>{sample_transcript().segments[0].text});
}

TEST(Render, TxtIsTheTextAndANewline) {
  const auto transcript = sample_transcript();
  EXPECT_EQ(render_transcript(transcript, OutputFormat::kTxt), transcript.text + "\n");
}

TEST(Render, JsonIsOneLinePerFile) {
  const std::string out = render_transcript(sample_transcript(), OutputFormat::kJson);
  ASSERT_EQ(out.back(), '\n');
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  const auto value = json::parse(out);
  EXPECT_EQ(value["file"], "talk.wav");
  EXPECT_EQ(value["text"], sample_transcript().text);
  EXPECT_EQ(value["tokens"], json({1, 2, 3, 4, 5}));
  EXPECT_DOUBLE_EQ(value["duration"].get<double>(), 75.5);
}

TEST(Render, VerboseJsonHasEverySegmentField) {
  const std::string out = render_transcript(sample_transcript(), OutputFormat::kVerboseJson);
  EXPECT_EQ(out.find('\n'), out.size() - 1);
  const auto value = json::parse(out);
  ASSERT_EQ(value["segments"].size(), 3u);
  const auto& last = value["segments"][2];
  EXPECT_EQ(last["id"], 2);
  EXPECT_DOUBLE_EQ(last["start"].get<double>(), 59.0);
  EXPECT_DOUBLE_EQ(last["end"].get<double>(), 75.5);
  EXPECT_EQ(last["text"], sample_transcript().segments[2].text);
  EXPECT_EQ(last["tokens"], json({4, 5}));
  EXPECT_DOUBLE_EQ(last["avg_logprob"].get<double>(), -1.5);
  EXPECT_EQ(last["loop_detected"], true);
  EXPECT_EQ(last["stop_reason"], "loop");
  EXPECT_EQ(value["segments"][0]["loop_detected"], false);
}

TEST(Render, BrokenUtf8IsReplacedNotFatal) {
  Transcript transcript = sample_transcript();
  transcript.text = "cut \xE4\xBD";
  const auto value = json::parse(render_transcript(transcript, OutputFormat::kJson));
  EXPECT_EQ(value["text"], "cut \xEF\xBF\xBD");
}

TEST(Render, SrtAndVttLayout) {
  Transcript transcript;
  TranscriptSegment segment;
  segment.start = 1.5;
  segment.end = 3661.25;
  segment.text = "a < b";
  transcript.segments = {segment};
  EXPECT_EQ(render_transcript(transcript, OutputFormat::kSrt),
            "1\n00:00:01,500 --> 01:01:01,250\na < b\n\n");
  EXPECT_EQ(render_transcript(transcript, OutputFormat::kVtt),
            "WEBVTT\n\n00:00:01.500 --> 01:01:01.250\na &lt; b\n\n");
}

// Parses a subtitle file with Debian's python3-srt or python3-webvtt (installed by
// scripts/install_deps.sh) and prints [[start, end, text], ...] as JSON.
constexpr const char* kParserScript = R"PY(
import json, sys
kind, path = sys.argv[1], sys.argv[2]
if kind == "srt":
    import srt
    with open(path, encoding="utf-8") as f:
        cues = [[s.start.total_seconds(), s.end.total_seconds(), s.content] for s in srt.parse(f.read())]
else:
    import webvtt
    cues = [[c.start_in_seconds, c.end_in_seconds, c.text] for c in webvtt.read(path)]
print(json.dumps(cues))
)PY";

bool parsers_installed() {
  return testing::run_command("/usr/bin/python3 -c 'import srt, webvtt' 2>/dev/null").exit_code ==
         0;
}

json parse_with_real_parser(const std::string& kind, const std::string& document) {
  const std::string dir = testing::make_temp_dir("subtitle-parse");
  const std::string path = dir + "/out." + kind, script = dir + "/parse.py";
  std::ofstream(path, std::ios::binary) << document;
  std::ofstream(script) << kParserScript;
  const auto result = testing::run_command("/usr/bin/python3 " + testing::shell_quote(script) +
                                           " " + kind + " " + testing::shell_quote(path));
  EXPECT_EQ(result.exit_code, 0) << result.err << "\n" << document;
  return result.exit_code == 0 ? json::parse(result.out) : json::array();
}

void expect_parsed_cues_match(const std::string& kind, OutputFormat format) {
  const Transcript transcript = sample_transcript();
  const auto cues = make_cues(transcript);
  const json parsed = parse_with_real_parser(kind, render_transcript(transcript, format));
  ASSERT_EQ(parsed.size(), cues.size());
  for (size_t i = 0; i < cues.size(); ++i) {
    EXPECT_NEAR(parsed[i][0].get<double>(), cues[i].start, 0.0011) << kind << " cue " << i;
    EXPECT_NEAR(parsed[i][1].get<double>(), cues[i].end, 0.0011) << kind << " cue " << i;
    std::string text;
    for (const auto& line : cues[i].lines) text += (text.empty() ? "" : "\n") + line;
    if (kind == "vtt") {  // webvtt-py gives the cue text as written, entities and all
      std::string escaped;
      for (char c : text)
        escaped += c == '&' ? "&amp;" : c == '<' ? "&lt;" : c == '>' ? "&gt;" : std::string(1, c);
      text = escaped;
    }
    EXPECT_EQ(parsed[i][2].get<std::string>(), text) << kind << " cue " << i;
  }
}

TEST(RealParsers, SrtOutputParses) {
  if (!parsers_installed())
    GTEST_SKIP() << "python3-srt/python3-webvtt not installed (scripts/install_deps.sh)";
  expect_parsed_cues_match("srt", OutputFormat::kSrt);
}

TEST(RealParsers, VttOutputParses) {
  if (!parsers_installed())
    GTEST_SKIP() << "python3-srt/python3-webvtt not installed (scripts/install_deps.sh)";
  expect_parsed_cues_match("vtt", OutputFormat::kVtt);
}

TEST(RealParsers, ParserRejectsAMalformedDocument) {
  // The parsers are strict enough to catch a broken layout, so the tests above can fail.
  if (!parsers_installed()) GTEST_SKIP() << "python3-srt/python3-webvtt not installed";
  const std::string dir = testing::make_temp_dir("subtitle-malformed");
  std::ofstream(dir + "/bad.vtt") << "00:00:01.000 --> 00:00:02.000\nno header\n\n";
  std::ofstream(dir + "/bad.srt") << "1\n00:00:01.000 -> 00:00:02,000\ntext\n\n";
  std::ofstream(dir + "/parse.py") << kParserScript;
  for (const char* kind : {"vtt", "srt"})
    EXPECT_NE(testing::run_command("/usr/bin/python3 " + dir + "/parse.py " + kind + " " + dir +
                                   "/bad." + kind)
                  .exit_code,
              0)
        << kind;
}

}  // namespace
}  // namespace glmasr
