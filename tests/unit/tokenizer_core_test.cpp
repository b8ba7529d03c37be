// UTF-8 repair, the byte-level alphabet, the regex splitter and the BPE merge loop.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "text/bpe_model.h"
#include "text/byte_level.h"
#include "text/regex_splitter.h"
#include "text/utf8.h"

namespace glmasr {
namespace {

const std::string kFffd = "\xEF\xBF\xBD";

TEST(Utf8Lossy, MatchesPythonErrorsReplace) {
  // Expected values from Python's bytes.decode('utf-8', 'replace').
  EXPECT_EQ(decode_utf8_lossy("\xE4\xBD"), kFffd);
  EXPECT_EQ(decode_utf8_lossy("a\x80"
                              "b"),
            "a" + kFffd + "b");
  EXPECT_EQ(decode_utf8_lossy("\xF0\x9F\x91x"), kFffd + "x");
  EXPECT_EQ(decode_utf8_lossy("\xED\xA0\x80"), kFffd + kFffd + kFffd);  // surrogate
  EXPECT_EQ(decode_utf8_lossy("\xC0\xAF"), kFffd + kFffd);              // overlong
  EXPECT_EQ(decode_utf8_lossy("\xF4\x90\x80\x80"), kFffd + kFffd + kFffd + kFffd);
  EXPECT_EQ(decode_utf8_lossy("\xE0\x80"), kFffd + kFffd);
  EXPECT_EQ(decode_utf8_lossy("\xE4\xBD\xA0\xFF"), "\xE4\xBD\xA0" + kFffd);
  EXPECT_EQ(decode_utf8_lossy("\xF0\x9F\x91\x8D"), "\xF0\x9F\x91\x8D");
  EXPECT_EQ(decode_utf8_lossy(""), "");
}

TEST(Utf8Lossy, StablePrefixHoldsBackOnlyATruncatedTail) {
  std::string out;
  EXPECT_EQ(decode_utf8_lossy_stable_prefix("ab\xF0\x9F\x91", out), 2u);
  EXPECT_EQ(out, "ab");
  out.clear();
  // An invalid byte is final at once; only the well-formed start of a character waits.
  EXPECT_EQ(decode_utf8_lossy_stable_prefix("\xFF\xE4", out), 1u);
  EXPECT_EQ(out, kFffd);
}

TEST(Utf8Validation, FindsFirstBadOffset) {
  EXPECT_TRUE(is_valid_utf8("plain \xE5\xA4\xA7"));
  EXPECT_EQ(first_invalid_utf8("ok\xE5\xA4"), 2u);
  EXPECT_EQ(first_invalid_utf8("ok\xC3\x28"), 2u);
}

TEST(ByteLevel, Gpt2Alphabet) {
  EXPECT_EQ(byte_level_char('a'), "a");
  EXPECT_EQ(byte_level_char(' '), "\xC4\xA0");   // U+0120 'Ġ'
  EXPECT_EQ(byte_level_char('\n'), "\xC4\x8A");  // U+010A 'Ċ'
  EXPECT_EQ(byte_level_char(0), "\xC4\x80");     // U+0100
  EXPECT_EQ(byte_level_char(0xAD), "\xC5\x83");  // soft hyphen is remapped: U+0143
  EXPECT_EQ(byte_level_char(0xE5), "\xC3\xA5");  // printable Latin-1 keeps its code point
  EXPECT_EQ(byte_level_byte(0x120), ' ');
  EXPECT_EQ(byte_level_byte(0x200), -1);
}

TEST(ByteLevel, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  std::string back;
  ASSERT_TRUE(byte_level_to_bytes(bytes_to_byte_level(all), back));
  EXPECT_EQ(back, all);
  // "大" is outside the alphabet: the caller keeps such a token verbatim.
  std::string untouched = "x";
  EXPECT_FALSE(byte_level_to_bytes("a\xE5\xA4\xA7", untouched));
  EXPECT_EQ(untouched, "x");
}

const char* kGlm4Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> split(const RegexSplitter& splitter, const std::string& text) {
  std::vector<std::string_view> views;
  splitter.split(text, views);
  return {views.begin(), views.end()};
}

TEST(RegexSplitter, Glm4PatternPieces) {
  const RegexSplitter splitter(kGlm4Pattern, "test");
  using V = std::vector<std::string>;
  EXPECT_EQ(split(splitter, "Hello world"), (V{"Hello", " world"}));
  EXPECT_EQ(split(splitter, "I'M 12345"), (V{"I", "'M", " ", "123", "45"}));
  EXPECT_EQ(split(splitter, "a  \n\n b"), (V{"a", "  \n\n", " b"}));
  EXPECT_EQ(split(splitter, "x   y"), (V{"x", "  ", " y"}));  // \s+(?!\S) leaves one space
  EXPECT_EQ(split(splitter, "\xE5\xA4\xA7\xE5\xAE\xB6!!"), (V{"\xE5\xA4\xA7\xE5\xAE\xB6", "!!"}));
  EXPECT_TRUE(split(splitter, "").empty());
}

TEST(RegexSplitter, WhiteSpaceIsUnicodeWhiteSpaceNotPcreSpace) {
  // U+180E is no longer White_Space (Oniguruma and Rust agree) but PCRE2's \s includes it.
  const RegexSplitter splitter(R"(\s+|\S+)", "test");
  EXPECT_EQ(split(splitter,
                  "a\xE1\xA0\x8E"
                  "b"),
            (std::vector<std::string>{"a\xE1\xA0\x8E"
                                      "b"}));
  EXPECT_EQ(split(splitter,
                  "a\xC2\xA0"
                  "b")
                .size(),
            3u);  // U+00A0 is white space
  EXPECT_EQ(with_unicode_white_space(R"([^\s\p{L}])"),
            std::string("[^\\x{9}-\\x{D}\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}"
                        "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\p{L}]"));
  EXPECT_EQ(with_unicode_white_space(R"(\\s)"), R"(\\s)");  // an escaped backslash, then 's'
}

TEST(RegexSplitter, EmptyMatchesStillCut) {
  const RegexSplitter splitter("x*", "test");
  EXPECT_EQ(split(splitter, "ab"), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(split(splitter, "axxb"), (std::vector<std::string>{"a", "xx", "b"}));
}

TEST(RegexSplitter, BadPatternNamesItsSource) {
  try {
    RegexSplitter("(unclosed", "some/tokenizer.json");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("some/tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(RegexSplitter, LongWhiteSpaceRunDoesNotExhaustTheStack) {
  const RegexSplitter splitter(kGlm4Pattern, "test");
  const std::string text = "a" + std::string(200000, ' ') + "b";
  const auto pieces = split(splitter, text);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[1].size(), 199999u);
}

// Byte-ordered base alphabet (id = byte) plus one id per merge result, in merge order.
std::unordered_map<std::string, int32_t> base_vocab_with(
    const std::vector<std::pair<std::string, std::string>>& merges) {
  std::unordered_map<std::string, int32_t> vocab;
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(static_cast<unsigned char>(b))] = b;
  for (const auto& [left, right] : merges)
    vocab.emplace(left + right, static_cast<int32_t>(vocab.size()));
  return vocab;
}

std::vector<int32_t> encode_word(const BpeModel& model, const std::string& word) {
  std::vector<int32_t> ids;
  model.encode_word(word, ids);
  return ids;
}

TEST(BpeModel, MergesByRankThenLeftmost) {
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"hell", "o"}, {"a", "a"}};
  const BpeModel model(base_vocab_with(merges), merges, {}, "test");
  EXPECT_EQ(encode_word(model, "hello"), (std::vector<int32_t>{259}));
  EXPECT_EQ(encode_word(model, "aaa"), (std::vector<int32_t>{260, 'a'}));  // leftmost first
  EXPECT_EQ(encode_word(model, "aaaa"), (std::vector<int32_t>{260, 260}));
  EXPECT_EQ(encode_word(model, "help"), (std::vector<int32_t>{256, 'l', 'p'}));
  // Cached second call gives the same answer.
  EXPECT_EQ(encode_word(model, "hello"), (std::vector<int32_t>{259}));
}

TEST(BpeModel, LowerRankWinsOverPosition) {
  const std::vector<std::pair<std::string, std::string>> el_first = {{"e", "l"}, {"l", "l"}};
  const std::vector<std::pair<std::string, std::string>> ll_first = {{"l", "l"}, {"e", "l"}};
  const auto el_vocab = base_vocab_with(el_first);
  const auto ll_vocab = base_vocab_with(ll_first);
  const BpeModel el_model(el_vocab, el_first, {}, "test");
  const BpeModel ll_model(ll_vocab, ll_first, {}, "test");
  EXPECT_EQ(encode_word(el_model, "ell"), (std::vector<int32_t>{el_vocab.at("el"), 'l'}));
  EXPECT_EQ(encode_word(ll_model, "ell"), (std::vector<int32_t>{'e', ll_vocab.at("ll")}));
}

TEST(BpeModel, DuplicateMergeTakesItsLastRank) {
  // ("e","l") first at rank 0, repeated after ("l","l"): the library keeps the later rank.
  const std::vector<std::pair<std::string, std::string>> merges = {
      {"e", "l"}, {"l", "l"}, {"e", "l"}};
  const auto vocab = base_vocab_with(merges);
  const BpeModel model(vocab, merges, {}, "test");
  EXPECT_EQ(encode_word(model, "ell"), (std::vector<int32_t>{'e', vocab.at("ll")}));
}

TEST(BpeModel, IgnoreMergesEmitsWholeVocabWords) {
  const std::vector<std::pair<std::string, std::string>> merges = {{"a", "b"}};
  auto vocab = base_vocab_with(merges);
  vocab["abc"] = 1000;  // reachable only as a whole word
  BpeOptions options;
  EXPECT_EQ(encode_word(BpeModel(vocab, merges, options, "test"), "abc"),
            (std::vector<int32_t>{256, 'c'}));
  options.ignore_merges = true;
  EXPECT_EQ(encode_word(BpeModel(vocab, merges, options, "test"), "abc"),
            (std::vector<int32_t>{1000}));
}

TEST(BpeModel, MissingCharactersAreDroppedOrBecomeUnk) {
  std::unordered_map<std::string, int32_t> vocab = {{"a", 0}, {"<unk>", 1}};
  EXPECT_EQ(encode_word(BpeModel(vocab, {}, {}, "test"), "xax"), (std::vector<int32_t>{0}));
  BpeOptions options;
  options.unk_token = "<unk>";
  EXPECT_EQ(encode_word(BpeModel(vocab, {}, options, "test"), "xxa"),
            (std::vector<int32_t>{1, 1, 0}));
  options.fuse_unk = true;
  EXPECT_EQ(encode_word(BpeModel(vocab, {}, options, "test"), "xxax"),
            (std::vector<int32_t>{1, 0, 1}));
}

TEST(BpeModel, MergeOutsideVocabIsAnError) {
  std::unordered_map<std::string, int32_t> vocab = {{"a", 0}, {"b", 1}};
  EXPECT_THROW(BpeModel(vocab, {{"a", "b"}}, {}, "test"), Error);  // "ab" missing
  EXPECT_THROW(BpeModel(vocab, {{"a", "c"}}, {}, "test"), Error);
}

}  // namespace
}  // namespace glmasr
