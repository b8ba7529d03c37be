// The glmasr command line as a new user meets it: --help on standard output with exit 0,
// --version, and exit 2 with the option named for every usage error (1 is for failures of
// the work itself). None of these cases needs a model.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <string>

#include "testing/testing.h"

namespace glmasr {
namespace {

testing::CommandResult glmasr(const std::string& arguments) {
  return testing::run_command(testing::shell_quote(testing::glmasr_binary()) + " " + arguments +
                              " </dev/null");
}

TEST(CliUsage, HelpGoesToStandardOutputWithExitZero) {
  // serve is left out, and bench tried with --help only, until cmd_serve.cpp (--help on stderr)
  // and cmd_bench.cpp (its own parser: "-h" unknown, exit 1) follow; both have other owners.
  for (const std::string command : {"", "transcribe ", "mel ", "prompt ", "tokenize ",
                                    "detokenize ", "compare ", "bench ", "download ", "info "}) {
    for (const std::string flag : {"--help", "-h"}) {
      if (command == "bench " && flag == "-h") continue;
      const auto result = glmasr(command + flag);
      EXPECT_EQ(result.exit_code, 0) << command << flag << "\n" << result.err;
      EXPECT_NE(result.out.find("usage: glmasr"), std::string::npos)
          << command << flag << " printed to stdout:\n"
          << result.out;
    }
  }
  EXPECT_NE(glmasr("--help").out.find("version"), std::string::npos);
  // Without a command the usage is an error report: stderr, exit 2.
  const auto bare = glmasr("");
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_NE(bare.err.find("usage: glmasr"), std::string::npos);
}

TEST(CliUsage, VersionIsTheProjectVersion) {
  std::ifstream cmake(testing::source_dir() + "/CMakeLists.txt");
  std::stringstream text;
  text << cmake.rdbuf();
  std::smatch match;
  const std::string source = text.str();
  ASSERT_TRUE(std::regex_search(source, match, std::regex(R"(project\(glmasr VERSION ([0-9.]+))")));
  for (const std::string flag : {"--version", "version"}) {
    const auto result = glmasr(flag);
    EXPECT_EQ(result.exit_code, 0) << flag;
    EXPECT_EQ(result.out, "glmasr " + match[1].str() + "\n") << flag;
  }
}

struct UsageCase {
  std::string arguments;
  std::string expected;  // in the error message
};

TEST(CliUsage, UsageErrorsExitTwoAndSayWhatWasWrong) {
  const std::vector<UsageCase> cases = {
      {"transcribe --bogus a.wav", "unknown option '--bogus'"},
      {"transcribe a.wav --max-new-tokens", "option --max-new-tokens needs a value"},
      {"transcribe --max-new-tokens many a.wav", "--max-new-tokens: expected an integer"},
      {"transcribe --max-new-tokens 0 a.wav", "--max-new-tokens: expected 1..8192"},
      {"transcribe --quiet=yes a.wav", "--quiet takes no value"},
      {"transcribe", "expected at least one FILE"},
      {"transcribe --dtype fp32 a.wav", "--dtype: expected bf16 or fp16, got 'fp32'"},
      {"transcribe --device tpu a.wav", "--device: expected auto, cpu or cuda, got 'tpu'"},
      {"transcribe --weights int4 a.wav", "--weights: expected bf16 or fp8, got 'int4'"},
      {"serve --weights fp16", "--weights: expected bf16 or fp8, got 'fp16'"},
      {"stream --weights int8 -", "--weights: expected bf16 or fp8, got 'int8'"},
      {"transcribe --device cpu --dtype fp16 a.wav", "--dtype applies to --device cuda"},
      {"transcribe --format txt,xml a.wav", "--format: "},
      {"transcribe --input-rate 16000 a.wav", "--input-rate describes raw PCM on standard input"},
      {"transcribe --input-channels 2 a.wav", "--input-channels describes raw PCM"},
      {"transcribe - - --input-rate 16000", "standard input (-) can be read only once"},
      {"prompt --model m --input-rate 16000 a.wav", "--input-rate describes raw PCM"},
      {"mel a.wav --input-rate 8000 -o x.npy", "--input-rate describes raw PCM"},
      {"compare --model m --reference r --dtype fp32", "--dtype: expected bf16 or fp16"},
      {"compare --model m --reference r --tolerance x", "--tolerance: expected a number"},
      {"compare --model m --reference r --weights e5m2", "--weights: expected bf16 or fp8"},
      {"download extra", "unexpected argument 'extra'"},
      {"download --retries -1", "--retries: expected 0..100"},
      {"info --model m --bogus", "unknown option '--bogus'"},
      {"tokenize --tokenizer t --bogus", "unknown option '--bogus'"},
      {"detokenize --tokenizer", "option --tokenizer needs a value"},
  };
  for (const UsageCase& c : cases) {
    const auto result = glmasr(c.arguments);
    EXPECT_EQ(result.exit_code, 2) << c.arguments << "\n" << result.err;
    EXPECT_NE(result.err.find(c.expected), std::string::npos)
        << c.arguments << ": expected '" << c.expected << "' in\n"
        << result.err;
  }
  // Missing arguments print the command's usage.
  for (const std::string command : {"mel", "prompt", "tokenize", "detokenize", "compare", "info"})
    EXPECT_EQ(glmasr(command).exit_code, 2) << command;
  const auto unknown = glmasr("transcrib");
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_NE(unknown.err.find("unknown command 'transcrib'"), std::string::npos);
}

}  // namespace
}  // namespace glmasr
