// libFuzzer target for tokenizer.json loading (text/tokenizer.h): the input is parsed as JSON
// and loaded with Tokenizer::from_json; a tokenizer that loads then encodes a few texts (ASCII,
// multi-byte UTF-8, added-token spellings) and decodes what it produced and a range of ids.
// Round trips must hold where the tokenizer promises them; only glmasr::Error may escape.
#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "fuzz_util.h"
#include "text/tokenizer.h"

namespace {

constexpr const char* kTarget = "tokenizer_fuzz";

void exercise(const glmasr::Tokenizer& tokenizer) {
  static const char* const kTexts[] = {"Hello world, 123!", "  spaces\tand\nlines ",
                                       "\xc3\xbc\xc3\xb1\xc3\xae \xe4\xb8\xad\xe6\x96\x87",
                                       "<|user|>hi<|endoftext|>"};
  for (const char* text : kTexts) {
    glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
      const std::vector<int32_t> ids = tokenizer.encode(text);
      for (int32_t id : ids)
        if (id < 0 || id >= tokenizer.id_limit())
          glmasr::fuzz::violated(kTarget, "encode gave an id outside 0..id_limit");
      tokenizer.decode(ids, true);
      tokenizer.decode(ids, false);
    });
  }
  // Bounded: a hostile file may declare ids in the billions.
  const int32_t ids_to_try = std::min<int32_t>(tokenizer.id_limit(), 512);
  for (int32_t id = -1; id <= ids_to_try; ++id) {
    glmasr::fuzz::expect_only_glmasr_errors(kTarget, [&] {
      const auto content = tokenizer.token_content(id);
      if (content && tokenizer.token_id(*content) != id && !tokenizer.is_special(id)) {
        // Two entries may spell one token; the id found must spell it too.
        const auto other = tokenizer.token_id(*content);
        if (!other || tokenizer.token_content(*other) != content)
          glmasr::fuzz::violated(kTarget, "token_id(token_content(id)) spells something else");
      }
      tokenizer.token_bytes(id, false);
    });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const nlohmann::json json = nlohmann::json::parse(data, data + size, nullptr, false);
  if (json.is_discarded()) return 0;  // not JSON: nothing of ours runs
  glmasr::fuzz::expect_only_glmasr_errors(
      kTarget, [&] { exercise(glmasr::Tokenizer::from_json(json, "fuzz.json")); });
  return 0;
}
