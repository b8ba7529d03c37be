// glmasr tokenize / detokenize: the model's tokenizer on its own, for checking ids against the
// tokenizers library and for scripts.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "core/error.h"
#include "text/tokenizer.h"

namespace glmasr::cli {

namespace {

constexpr const char* kTokenizeUsage =
    "usage: glmasr tokenize --tokenizer FILE [--text TEXT]\n"
    "Prints the token ids of TEXT (standard input when absent, read verbatim) as a JSON array.\n"
    "Special tokens written in the text become their ids; none are added around it.\n";

constexpr const char* kDetokenizeUsage =
    "usage: glmasr detokenize --tokenizer FILE [--skip-special] ID...\n"
    "Prints the text of the token ids followed by a newline; --skip-special leaves out special\n"
    "tokens such as <|user|>.\n";

int32_t parse_id(const std::string& text) {
  size_t used = 0;
  long long value = -1;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  GLMASR_CHECK(used == text.size() && !text.empty() && value >= 0 && value <= INT32_MAX,
               "token id: expected a non-negative integer, got '", text, "'");
  return static_cast<int32_t>(value);
}

}  // namespace

int run_tokenize(const CommandArgs& args) {
  const Args parsed(args, {{"--tokenizer", true}, {"--text", true}, {"--help", false, "-h"}});
  if (parsed.has("--help")) {
    std::fputs(kTokenizeUsage, stdout);
    return 0;
  }
  if (!parsed.has("--tokenizer") || !parsed.positional().empty()) {
    std::fputs(kTokenizeUsage, stderr);
    return 2;
  }
  const Tokenizer tokenizer = Tokenizer::from_file(*parsed.get("--tokenizer"));
  std::string text;
  if (const auto given = parsed.get("--text")) {
    text = *given;
  } else {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  const nlohmann::json ids = tokenizer.encode(text);
  std::printf("%s\n", ids.dump().c_str());
  return 0;
}

int run_detokenize(const CommandArgs& args) {
  const Args parsed(args,
                    {{"--tokenizer", true}, {"--skip-special", false}, {"--help", false, "-h"}});
  if (parsed.has("--help")) {
    std::fputs(kDetokenizeUsage, stdout);
    return 0;
  }
  if (!parsed.has("--tokenizer")) {
    std::fputs(kDetokenizeUsage, stderr);
    return 2;
  }
  const Tokenizer tokenizer = Tokenizer::from_file(*parsed.get("--tokenizer"));
  std::vector<int32_t> ids;
  for (const std::string& text : parsed.positional()) ids.push_back(parse_id(text));
  const std::string decoded = tokenizer.decode(ids, parsed.has("--skip-special"));
  std::fwrite(decoded.data(), 1, decoded.size(), stdout);
  std::fputc('\n', stdout);
  return 0;
}

}  // namespace glmasr::cli
