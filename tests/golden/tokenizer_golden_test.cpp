// Token ids and decoded text equal the tokenizers library's on the synthetic GLM-style
// tokenizer (tests/data/tiny/tokenizer.json), and the prompt of each real audio file equals the
// transformers processor's (tests/data/golden/*.json, made on the GPU machine).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/json_file.h"
#include "testing/testing.h"
#include "text/prompt.h"
#include "text/tokenizer.h"

namespace glmasr {
namespace {

using Ids = std::vector<int32_t>;

std::string tiny_dir() {
  return testing::data_dir() + "/tiny";
}
std::string tokenizer_path() {
  return tiny_dir() + "/tokenizer.json";
}
std::string golden_path(const std::string& name) {
  return testing::data_dir() + "/golden/" + name;
}

#define SKIP_WITHOUT(path)                                                    \
  do {                                                                        \
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "missing " << (path); \
  } while (0)

const Tokenizer& tiny_tokenizer() {
  static const Tokenizer tokenizer = Tokenizer::from_file(tokenizer_path());
  return tokenizer;
}

TEST(TokenizerGolden, IdsAndDecodingEqualTheLibrary) {
  SKIP_WITHOUT(tokenizer_path());
  SKIP_WITHOUT(golden_path("tokenizer_golden.json"));
  const auto golden = read_json_file(golden_path("tokenizer_golden.json"));
  ASSERT_FALSE(golden.at("cases").empty());
  const Tokenizer& tokenizer = tiny_tokenizer();
  for (const auto& item : golden.at("cases")) {
    const std::string text = item.at("text");
    const Ids expected = item.at("ids");
    EXPECT_EQ(tokenizer.encode(text), expected) << "text: " << nlohmann::json(text).dump();
    EXPECT_EQ(tokenizer.decode(expected, false), item.at("decoded").get<std::string>());
    EXPECT_EQ(tokenizer.decode(expected, true), item.at("decoded_skip_special").get<std::string>());
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(text), false), text);
  }
}

TEST(TokenizerGolden, PromptTextIdsEqualTheLibrary) {
  SKIP_WITHOUT(tokenizer_path());
  SKIP_WITHOUT(golden_path("tokenizer_golden.json"));
  const auto golden = read_json_file(golden_path("tokenizer_golden.json"));
  EXPECT_EQ(tiny_tokenizer().encode(kDefaultPromptText), golden.at("prompt_text_ids").get<Ids>());
}

TEST(TokenizerGolden, SpecialTokensSitAtTheGlmIds) {
  SKIP_WITHOUT(tokenizer_path());
  const Tokenizer& tokenizer = tiny_tokenizer();
  EXPECT_EQ(tokenizer.id_limit(), 59264);
  EXPECT_EQ(tokenizer.token_id("<|endoftext|>"), 59246);
  EXPECT_EQ(tokenizer.token_id("<|user|>"), 59253);
  EXPECT_EQ(tokenizer.token_id("<|assistant|>"), 59254);
  EXPECT_EQ(tokenizer.token_id("<|pad|>"), 59260);
  EXPECT_EQ(tokenizer.token_id("<|begin_of_audio|>"), 59261);
  EXPECT_EQ(tokenizer.token_id("<|end_of_audio|>"), 59262);
  EXPECT_EQ(tokenizer.encode("\n"), Ids{10});
}

TEST(TokenizerGolden, PromptCommandEqualsTheProcessor) {
  SKIP_WITHOUT(golden_path("tiny_e2e.json"));
  SKIP_WITHOUT(tiny_dir() + "/config.json");
  const std::string audio_dir = testing::shared_dir() + "/audio";
  if (testing::shared_dir().empty()) GTEST_SKIP() << "missing ../shared (the audio files)";
  const auto golden = read_json_file(golden_path("tiny_e2e.json"));
  for (const char* name : {"jfk.wav", "1272-128104-0000.flac"}) {
    ASSERT_TRUE(golden.contains(name)) << name;
    const auto result = testing::run_command(testing::shell_quote(testing::glmasr_binary()) +
                                             " prompt --model " + testing::shell_quote(tiny_dir()) +
                                             " " + testing::shell_quote(audio_dir + "/" + name));
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(nlohmann::json::parse(result.out).get<Ids>(),
              golden.at(name).at("prompt_ids").get<Ids>())
        << name;
  }
}

}  // namespace
}  // namespace glmasr
