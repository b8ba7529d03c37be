// The prompt the processor builds: rendering, ids, audio-token counts and config reading.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "testing/testing.h"
#include "text/byte_level.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

namespace glmasr {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// A GLM-style tokenizer small enough to write here: byte alphabet (id = byte), a few merges of
// the default prompt's words, and the 18 GLM special tokens at their real ids (59246..59263),
// reached by padding the vocabulary with filler entries.
json glm_tokenizer_with_real_special_ids() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<unsigned char>(b))] = b;
  json merges = json::array();
  for (const auto& [left, right] : std::vector<std::pair<std::string, std::string>>{
           {"P", "l"}, {"e", "a"}, {"Pl", "ea"}, {" ", "t"}, {" t", "e"}, {"x", "t"}}) {
    const std::string l = bytes_to_byte_level(left), r = bytes_to_byte_level(right);
    if (!vocab.contains(l + r)) vocab[l + r] = static_cast<int>(vocab.size());
    merges.push_back(json::array({l, r}));
  }
  while (vocab.size() < 59246) vocab["<filler" + std::to_string(vocab.size()) + ">"] = vocab.size();
  const char* specials[] = {"<|endoftext|>",
                            "[MASK]",
                            "[gMASK]",
                            "[sMASK]",
                            "<sop>",
                            "<eop>",
                            "<|system|>",
                            "<|user|>",
                            "<|assistant|>",
                            "<|observation|>",
                            "<|begin_of_image|>",
                            "<|end_of_image|>",
                            "<|begin_of_video|>",
                            "<|end_of_video|>",
                            "<|pad|>",
                            "<|begin_of_audio|>",
                            "<|end_of_audio|>",
                            "<|reserved|>"};
  json added = json::array();
  for (const char* content : specials)
    added.push_back({{"id", 59246 + added.size()},
                     {"content", content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  return {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Sequence"},
        {"pretokenizers",
         {{{"type", "Split"},
           {"pattern",
            {{"Regex",
              R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)"}}},
           {"behavior", "Isolated"},
           {"invert", false}},
          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}}}}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}}};
}

const Tokenizer& glm_tokenizer() {
  static const Tokenizer tokenizer =
      Tokenizer::from_json(glm_tokenizer_with_real_special_ids(), "glm-test");
  return tokenizer;
}

TEST(PromptBuilder, RendersTheChatTemplate) {
  EXPECT_EQ(render_prompt(2, "Say it"),
            "<|user|>\n<|begin_of_audio|><|pad|><|pad|><|end_of_audio|><|user|>\nSay it"
            "<|assistant|>\n");
  EXPECT_THROW(render_prompt(-1, "x"), Error);
}

TEST(PromptBuilder, SpecialIdsAreTheGlmOnes) {
  const Tokenizer& tokenizer = glm_tokenizer();
  EXPECT_EQ(tokenizer.token_id("<|endoftext|>"), 59246);
  EXPECT_EQ(tokenizer.token_id("<|user|>"), 59253);
  EXPECT_EQ(tokenizer.token_id("<|assistant|>"), 59254);
  EXPECT_EQ(tokenizer.token_id("<|pad|>"), 59260);
  EXPECT_EQ(tokenizer.token_id("<|begin_of_audio|>"), 59261);
  EXPECT_EQ(tokenizer.token_id("<|end_of_audio|>"), 59262);
  EXPECT_EQ(tokenizer.encode("\n"), Ids{10});
}

TEST(PromptBuilder, WholeStringEncodingEqualsPiecewiseConstruction) {
  // The processor tokenizes the rendered string at once; with the special tokens matched first,
  // each "\n" next to them is its own pre-token, so the pieces can be concatenated.
  const Tokenizer& tokenizer = glm_tokenizer();
  for (int64_t n : {0, 1, 7, 137}) {
    const Ids text_ids = tokenizer.encode(kDefaultPromptText);
    Ids expected = {59253, 10, 59261};
    expected.insert(expected.end(), n, 59260);
    expected.insert(expected.end(), {59262, 59253, 10});
    expected.insert(expected.end(), text_ids.begin(), text_ids.end());
    expected.insert(expected.end(), {59254, 10});
    EXPECT_EQ(build_prompt_ids(tokenizer, n, kDefaultPromptText, 59260), expected) << n;
  }
  // "Please" starts with the merged "Plea" piece, so a real merge is part of the check.
  EXPECT_EQ(tokenizer.encode(kDefaultPromptText).front(), tokenizer.token_id("Plea"));
}

TEST(PromptBuilder, CustomPromptTextIsEncodedInPlace) {
  const Tokenizer& tokenizer = glm_tokenizer();
  const Ids ids = build_prompt_ids(tokenizer, 3, " hot words: GLM, ASR", 59260);
  EXPECT_EQ(ids, tokenizer.encode(render_prompt(3, " hot words: GLM, ASR")));
  EXPECT_EQ(tokenizer.decode(ids, true), "\n\n hot words: GLM, ASR\n");
}

TEST(PromptBuilder, SpecialTokenStringsInThePromptTextArePlainText) {
  const Tokenizer& tokenizer = glm_tokenizer();
  const std::string text = " say <|pad|><|assistant|> now";
  const Ids ids = build_prompt_ids(tokenizer, 3, text, 59260);
  EXPECT_EQ(std::count(ids.begin(), ids.end(), 59260), 3) << "the prompt added placeholders";
  const int32_t assistant = *tokenizer.token_id("<|assistant|>");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), assistant), 1);
  EXPECT_NE(tokenizer.decode(ids, true).find("<|pad|><|assistant|>"), std::string::npos);
}

TEST(PromptBuilder, PadIdMustBeTheConfigsAudioTokenId) {
  try {
    build_prompt_ids(glm_tokenizer(), 3, kDefaultPromptText, 59263);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("audio_token_id 59263, got 59260"), std::string::npos)
        << e.what();
  }
}

TEST(AudioTokenCount, MatchesTheProcessor) {
  // Spec §4 table and §14 measurements.
  EXPECT_EQ(audio_token_count(16000, 4), 12);
  EXPECT_EQ(audio_token_count(80000, 4), 62);
  EXPECT_EQ(audio_token_count(93680, 4), 73);
  EXPECT_EQ(audio_token_count(160000, 4), 125);
  EXPECT_EQ(audio_token_count(176000, 4), 137);
  EXPECT_EQ(audio_token_count(480000, 4), 375);
  EXPECT_EQ(audio_token_count(960000, 4), 750);
  EXPECT_EQ(audio_token_count(754304, 4), 589);
  EXPECT_EQ(audio_token_count(61440, 4), 48);  // 3.84 s
  EXPECT_EQ(audio_token_count(960, 4), 0);
  EXPECT_EQ(audio_token_count(961, 4), 1);
  EXPECT_EQ(audio_token_count(0, 4), 0);
  EXPECT_EQ(audio_token_count(21 * 480000, 4), 21 * 375);
  EXPECT_EQ(audio_token_count(480000, 2), 750);
}

TEST(AudioTokenCount, RejectsMoreThan21Windows) {
  try {
    audio_token_count(21 * 480000 + 1, 4);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected at most 630 s"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace glmasr
