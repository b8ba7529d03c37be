// Loading tokenizer.json files: components, merges forms, added tokens in text, decoding,
// streaming decoding and the errors for what is not supported.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "testing/testing.h"
#include "text/byte_level.h"
#include "text/tokenizer.h"

namespace glmasr {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const char* kGlm4Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

json added_token(int id, const std::string& content, bool special = true) {
  return {{"id", id},        {"content", content},  {"single_word", false}, {"lstrip", false},
          {"rstrip", false}, {"normalized", false}, {"special", special}};
}

// A GLM-style tokenizer: byte-ordered base alphabet (id = byte), one id per merge result in
// merge order (merges given in raw text, stored in byte-level spelling), then added tokens.
json glm_style_tokenizer(const std::vector<std::pair<std::string, std::string>>& merges,
                         bool legacy_merges = false) {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<unsigned char>(b))] = b;
  json merges_json = json::array();
  for (const auto& [left, right] : merges) {
    const std::string l = bytes_to_byte_level(left), r = bytes_to_byte_level(right);
    if (!vocab.contains(l + r)) vocab[l + r] = static_cast<int>(vocab.size());
    merges_json.push_back(legacy_merges ? json(l + " " + r) : json::array({l, r}));
  }
  const int first_added = static_cast<int>(vocab.size());
  json added = json::array();
  const char* specials[] = {"<|endoftext|>", "<|user|>",           "<|assistant|>",
                            "<|pad|>",       "<|begin_of_audio|>", "<|end_of_audio|>"};
  for (const char* content : specials)
    added.push_back(added_token(first_added + static_cast<int>(added.size()), content));
  return {{"version", "1.0"},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer",
           {{"type", "Sequence"},
            {"pretokenizers",
             {{{"type", "Split"},
               {"pattern", {{"Regex", kGlm4Pattern}}},
               {"behavior", "Isolated"},
               {"invert", false}},
              {{"type", "ByteLevel"},
               {"add_prefix_space", false},
               {"trim_offsets", false},
               {"use_regex", false}}}}}},
          {"post_processor", nullptr},
          {"decoder", {{"type", "ByteLevel"}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", false},
            {"vocab", vocab},
            {"merges", merges_json}}}};
}

const std::vector<std::pair<std::string, std::string>> kMerges = {
    {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {" ", "w"}, {"o", "r"}, {" w", "or"}};
// Ids of the merge results above: he 256, ll 257, hell 258, hello 259, " w" 260, or 261,
// " wor" 262; added tokens from 263: <|endoftext|> 263, <|user|> 264, <|assistant|> 265,
// <|pad|> 266, <|begin_of_audio|> 267, <|end_of_audio|> 268.

std::string error_of(const json& tokenizer_json) {
  try {
    Tokenizer::from_json(tokenizer_json, "dir/tokenizer.json");
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// Found by the tokenizer fuzzer: a float id (2.9e43) was converted to int64 (undefined).
TEST(TokenizerJson, VocabIdsMustBeIntegers) {
  for (const json& id : {json(2.9e43), json(1.5), json("7"), json(18446744073709551615ull)}) {
    json tokenizer = glm_style_tokenizer(kMerges);
    tokenizer["model"]["vocab"]["he"] = id;
    EXPECT_NE(error_of(tokenizer).find("model.vocab['he']: expected an integer id"),
              std::string::npos)
        << id.dump() << ": " << error_of(tokenizer);
  }
}

TEST(TokenizerJson, EncodesWordsThroughSplitAndBpe) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  EXPECT_EQ(tokenizer.encode("hello world"), (Ids{259, 262, 'l', 'd'}));
  EXPECT_EQ(tokenizer.encode(""), Ids{});
  EXPECT_EQ(tokenizer.encode("\n"), Ids{10});
  EXPECT_EQ(tokenizer.encode("\xE5\xA4\xA7"), (Ids{0xE5, 0xA4, 0xA7}));  // 大: its three bytes
  EXPECT_EQ(tokenizer.id_limit(), 269);
}

TEST(TokenizerJson, BothMergeFormsGiveTheSameIds) {
  const Tokenizer pairs = Tokenizer::from_json(glm_style_tokenizer(kMerges, false), "pairs");
  const Tokenizer strings = Tokenizer::from_json(glm_style_tokenizer(kMerges, true), "strings");
  for (const char* text : {"hello world", "hell or high water", "wor wor world"})
    EXPECT_EQ(pairs.encode(text), strings.encode(text)) << text;
  EXPECT_EQ(strings.encode("hello world"), (Ids{259, 262, 'l', 'd'}));
}

TEST(TokenizerJson, LegacyMergeLineNeedsExactlyOneSpace) {
  json bad = glm_style_tokenizer(kMerges, true);
  bad["model"]["merges"].push_back("a b c");
  EXPECT_NE(error_of(bad).find("expected two pieces separated by one space"), std::string::npos);
}

TEST(TokenizerJson, AddedTokensInsideTextAreMatchedFirst) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  EXPECT_EQ(tokenizer.encode("hello<|user|>\nhello"), (Ids{259, 264, 10, 259}));
  EXPECT_EQ(tokenizer.encode("<|user|><|user|>"), (Ids{264, 264}));
  // A partial token is plain text.
  EXPECT_EQ(tokenizer.encode("<|user"), (Ids{'<', '|', 'u', 's', 'e', 'r'}));
  EXPECT_EQ(tokenizer.token_id("<|pad|>"), 266);
  EXPECT_EQ(tokenizer.token_id("hello"), 259);
  EXPECT_EQ(tokenizer.token_id("<|nope|>"), std::nullopt);
  EXPECT_THROW(tokenizer.require_token_id("<|nope|>"), Error);
  EXPECT_EQ(tokenizer.token_content(264), "<|user|>");
  EXPECT_TRUE(tokenizer.is_special(264));
  EXPECT_FALSE(tokenizer.is_special(259));
}

TEST(TokenizerJson, LongestAddedTokenWins) {
  json file = glm_style_tokenizer(kMerges);
  file["added_tokens"].push_back(added_token(269, "<|user|>x"));
  const Tokenizer tokenizer = Tokenizer::from_json(file, "t");
  EXPECT_EQ(tokenizer.encode("<|user|>x<|user|>"), (Ids{269, 264}));
}

TEST(TokenizerJson, AddedTokenIdsFollowTheVocabLikeTheLibrary) {
  // The "id" field is a hint: the library numbers new tokens on from the vocab size, and a
  // token already in the vocab keeps its vocab id.
  json file = glm_style_tokenizer(kMerges);
  file["added_tokens"] = json::array({added_token(999, "<|a|>"), added_token(5, "hello")});
  const Tokenizer tokenizer = Tokenizer::from_json(file, "t");
  EXPECT_EQ(tokenizer.token_id("<|a|>"), 263);
  EXPECT_EQ(tokenizer.token_id("hello"), 259);
}

TEST(TokenizerJson, AddedTokenFlags) {
  json file = glm_style_tokenizer(kMerges);
  json lstrip = added_token(269, "<L>"), rstrip = added_token(270, "<R>");
  json single = added_token(271, "word"), normalized = added_token(272, "<N>");
  json plain = added_token(273, "<N", false);
  lstrip["lstrip"] = true;
  rstrip["rstrip"] = true;
  single["single_word"] = true;
  normalized["normalized"] = true;
  for (const json& token : {lstrip, rstrip, single, normalized, plain})
    file["added_tokens"].push_back(token);
  const Tokenizer tokenizer = Tokenizer::from_json(file, "t");
  // Expected ids checked against the tokenizers library on the same definitions.
  EXPECT_EQ(tokenizer.encode("a  <L>b"), (Ids{'a', 269, 'b'}));
  EXPECT_EQ(tokenizer.encode("<L>  <L>"), (Ids{269, 269}));
  EXPECT_EQ(tokenizer.encode("x <R>\n\ny"), (Ids{'x', ' ', 270, 'y'}));
  EXPECT_EQ(tokenizer.encode("a word b"), (Ids{'a', ' ', 271, ' ', 'b'}));
  EXPECT_EQ(tokenizer.encode("word_x"), (Ids{'w', 261, 'd', '_', 'x'}));  // glued: no match
  // Non-normalized tokens are matched first, so "<N" wins inside "<N>".
  EXPECT_EQ(tokenizer.encode("<N><N"), (Ids{273, '>', 273}));
  EXPECT_EQ(tokenizer.encode("x<N>"), (Ids{'x', 273, '>'}));
  // Non-special added tokens survive skip_special decoding.
  EXPECT_EQ(tokenizer.decode(Ids{273, 271, 264}, true), "<N");
  EXPECT_EQ(tokenizer.decode(Ids{273, 271, 264}, false), "<Nword<|user|>");
}

TEST(TokenizerJson, NormalizedTokenMatchesWhereNoRawTokenDoes) {
  json file = glm_style_tokenizer(kMerges);
  json normalized = added_token(269, "<N>");
  normalized["normalized"] = true;
  file["added_tokens"].push_back(normalized);
  const Tokenizer tokenizer = Tokenizer::from_json(file, "t");
  EXPECT_EQ(tokenizer.encode("x<N>y"), (Ids{'x', 269, 'y'}));
}

TEST(TokenizerJson, DecodeWithAndWithoutSpecialTokens) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  const Ids ids = tokenizer.encode("<|user|>\nhello world<|assistant|>");
  EXPECT_EQ(tokenizer.decode(ids, false), "<|user|>\nhello world<|assistant|>");
  EXPECT_EQ(tokenizer.decode(ids, true), "\nhello world");
  EXPECT_THROW(tokenizer.decode(Ids{100000}, false), Error);
  EXPECT_THROW(tokenizer.decode(Ids{-1}, false), Error);
}

TEST(TokenizerJson, DecodeRepairsInvalidUtf8) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  // 大 is E5 A4 A7; its first two bytes alone, then "a", then a lone continuation byte.
  EXPECT_EQ(tokenizer.decode(Ids{0xE5, 0xA4, 'a', 0xA7}, false),
            "\xEF\xBF\xBD"
            "a\xEF\xBF\xBD");
  EXPECT_EQ(tokenizer.decode(Ids{0xE5, 0xA4, 0xA7}, false), "\xE5\xA4\xA7");
}

TEST(TokenizerJson, RoundTripsArbitraryText) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  for (const char* text :
       {"hello world", "  x\t\n\r\n yz ", "\xE5\xA4\xA7\xE5\xAE\xB6\xE5\xA5\xBD\xF0\x9F\x91\x8D",
        "I'M don't 12345 <|pad|><|pad|>", "\xC2\xA0\xE1\xA0\x8E"})
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text), false), text);
}

TEST(TokenizerJson, EncodeRejectsInvalidUtf8) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  EXPECT_THROW(tokenizer.encode("ab\xFF"), Error);
}

TEST(IncrementalDecoder, NeverEmitsHalfACharacter) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  const std::string text = "\xE5\xA4\xA7\xE5\xAE\xB6\xE5\xA5\xBD\xF0\x9F\x91\x8D";  // 大家好👍
  const Ids ids = tokenizer.encode(text);
  ASSERT_EQ(ids.size(), 13u);  // one id per byte with these merges
  IncrementalDecoder decoder(tokenizer, true);
  std::string streamed;
  std::vector<std::string> pieces;
  for (int32_t id : ids) {
    const std::string piece = decoder.push(id);
    EXPECT_TRUE(piece.empty() ||
                (piece.size() >= 3 && piece.find("\xEF\xBF\xBD") == std::string::npos))
        << "emitted a partial character";
    if (!piece.empty()) pieces.push_back(piece);
    streamed += piece;
  }
  streamed += decoder.finish();
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(pieces, (std::vector<std::string>{"\xE5\xA4\xA7", "\xE5\xAE\xB6", "\xE5\xA5\xBD",
                                              "\xF0\x9F\x91\x8D"}));
}

TEST(IncrementalDecoder, MatchesDecodeOnInvalidAndSpecialIds) {
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  const Ids ids = {0xE5, 264, 0xA4, 'a', 0xFF, 259, 0xF0, 0x9F};
  for (bool skip : {false, true}) {
    IncrementalDecoder decoder(tokenizer, skip);
    std::string streamed;
    for (int32_t id : ids) streamed += decoder.push(id);
    streamed += decoder.finish();
    EXPECT_EQ(streamed, tokenizer.decode(ids, skip)) << "skip_special " << skip;
  }
}

TEST(TokenizerJson, ByteLevelWithRegexAndPrefixSpace) {
  json file = glm_style_tokenizer(kMerges);
  file["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"use_regex", true}};
  const Tokenizer tokenizer = Tokenizer::from_json(file, "t");
  // GPT-2 regex pieces " hello", " world"; the prefix space makes the first one " hello".
  EXPECT_EQ(tokenizer.encode("hello world"), (Ids{' ', 259, 262, 'l', 'd'}));
}

TEST(TokenizerJson, UnsupportedComponentsAreNamed) {
  const auto expect_error = [](json file, const std::string& expected) {
    const std::string message = error_of(file);
    EXPECT_NE(message.find("dir/tokenizer.json: unsupported " + expected), std::string::npos)
        << message;
  };
  json file = glm_style_tokenizer(kMerges);
  file["model"]["type"] = "WordPiece";
  expect_error(file, "model 'WordPiece'");
  file = glm_style_tokenizer(kMerges);
  file["normalizer"] = {{"type", "NFC"}};
  expect_error(file, "normalizer 'NFC'");
  file = glm_style_tokenizer(kMerges);
  file["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(file, "pre_tokenizer 'Whitespace'");
  file = glm_style_tokenizer(kMerges);
  file["pre_tokenizer"]["pretokenizers"][0]["type"] = "Digits";
  expect_error(file, "pre_tokenizer 'Digits'");
  file = glm_style_tokenizer(kMerges);
  file["pre_tokenizer"]["pretokenizers"][0]["behavior"] = "Removed";
  expect_error(file, "pre_tokenizer 'Split'");
  file = glm_style_tokenizer(kMerges);
  file["pre_tokenizer"] = nullptr;
  expect_error(file, "pre_tokenizer 'null'");
  file = glm_style_tokenizer(kMerges);
  file["decoder"] = {{"type", "WordPiece"}};
  expect_error(file, "decoder 'WordPiece'");
  file = glm_style_tokenizer(kMerges);
  file["model"]["byte_fallback"] = true;
  expect_error(file, "model 'BPE' (byte_fallback)");
  file = glm_style_tokenizer(kMerges);
  file["model"]["continuing_subword_prefix"] = "##";
  expect_error(file, "model 'BPE' (continuing_subword_prefix)");
  file = glm_style_tokenizer(kMerges);
  file["model"]["dropout"] = 0.1;
  expect_error(file, "model 'BPE' (dropout)");
}

TEST(TokenizerJson, MalformedFilesNameTheFile) {
  json file = glm_style_tokenizer(kMerges);
  file["model"].erase("vocab");
  EXPECT_NE(error_of(file).find("dir/tokenizer.json"), std::string::npos);
  file = glm_style_tokenizer(kMerges);
  file["model"]["merges"].push_back(json::array({"q", "zz"}));
  EXPECT_NE(error_of(file).find("'zz', expected a token of model.vocab"), std::string::npos)
      << error_of(file);
  EXPECT_NE(error_of(json::array()).find("expected a tokenizer.json object"), std::string::npos);
}

TEST(TokenizerJson, FromFileNamesAMissingFile) {
  try {
    Tokenizer::from_file("/nonexistent/tokenizer.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/tokenizer.json"), std::string::npos);
  }
}

TEST(TokenizerJson, EncodesManyStringsQuickly) {
  // A word cache and a single UTF-8 check keep thousands of encodes cheap.
  const Tokenizer tokenizer = Tokenizer::from_json(glm_style_tokenizer(kMerges), "t");
  size_t total = 0;
  for (int i = 0; i < 20000; ++i)
    total += tokenizer.encode("hello world " + std::to_string(i) + " the quick brown fox").size();
  EXPECT_GT(total, 20000u);
}

}  // namespace
}  // namespace glmasr
