// Segment texts joined into one text, streamed or not.
#include "pipeline/text_joiner.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace glmasr {
namespace {

// Streams every (ASCII) text cut into pieces of `step` bytes.
std::string streamed(const std::vector<std::string>& texts, size_t step,
                     std::vector<std::string>* deltas = nullptr) {
  std::string joined;
  TextJoiner joiner([&](std::string_view d) {
    joined += d;
    if (deltas) deltas->emplace_back(d);
  });
  for (const std::string& text : texts) {
    for (size_t i = 0; i < text.size(); i += step) joiner.append(text.substr(i, step));
    joiner.end_segment();
  }
  joiner.finish();
  EXPECT_EQ(joined, joiner.text());
  return joined;
}

TEST(TextJoiner, ALoneSegmentIsVerbatim) {
  EXPECT_EQ(join_segment_texts({" Hello, world. "}), " Hello, world. ");
  EXPECT_EQ(join_segment_texts({"", " Hello ", ""}), " Hello ");
}

TEST(TextJoiner, SegmentsAreTrimmedAndJoinedWithOneSpace) {
  EXPECT_EQ(join_segment_texts({" one.", "  two. ", "", "\nthree.\n"}), " one. two. three.\n");
}

TEST(TextJoiner, CjkTextTakesNoSpaces) {
  EXPECT_EQ(join_segment_texts({"你好。", " 世界"}), "你好。世界");
  EXPECT_EQ(join_segment_texts({"你好", "world"}), "你好 world");
}

TEST(TextJoiner, StreamedDeltasJoinedEqualTheJoinedText) {
  const std::vector<std::vector<std::string>> cases = {
      {" Hello, world. "},
      {" one.", "  two. ", "", "\nthree.\n"},
      {"", "   ", " a  b  ", "c"},
  };
  for (const auto& texts : cases)
    for (size_t step : {1u, 2u, 3u, 7u, 100u})
      EXPECT_EQ(streamed(texts, step), join_segment_texts(texts)) << step;
  // CJK in whole characters, as the incremental decoder gives them.
  TextJoiner joiner;
  for (const char* piece : {"你", "好", "。"}) joiner.append(piece);
  joiner.end_segment();
  for (const char* piece : {" ", "世", "界"}) joiner.append(piece);
  joiner.end_segment();
  joiner.finish();
  EXPECT_EQ(joiner.text(), join_segment_texts({"你好。", " 世界"}));
}

TEST(TextJoiner, TrailingSpaceIsHeldUntilTextFollowsOrTheEnd) {
  std::vector<std::string> deltas;
  TextJoiner joiner([&](std::string_view d) { deltas.emplace_back(d); });
  joiner.append("Hi ");
  EXPECT_EQ(joiner.text(), "Hi");
  joiner.append("there ");
  EXPECT_EQ(joiner.text(), "Hi there");
  joiner.end_segment();
  joiner.append("  next");
  EXPECT_EQ(joiner.text(), "Hi there next");
  joiner.end_segment();
  joiner.finish();
  EXPECT_EQ(joiner.text(), "Hi there next");
}

}  // namespace
}  // namespace glmasr
