// A Hugging Face tokenizer.json of the byte-level BPE kind (GPT-2 / GLM-4 family), encoding and
// decoding exactly as the tokenizers library does:
//   encode: added tokens matched in the raw text -> pre-tokenizer (Split regexes, then
//           ByteLevel) -> BPE per pre-token. No special tokens are ever added around the text.
//   decode: ids -> token strings (special ones optionally skipped) -> GPT-2 byte alphabet back
//           to bytes -> UTF-8 with invalid sequences replaced by U+FFFD.
// Components outside that family are rejected when the file is loaded.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace glmasr {

class Tokenizer {
 public:
  // Reads a tokenizer.json. Throws glmasr::Error naming the file for I/O and format errors and
  // "<file>: unsupported <component> '<type>'" for components this tokenizer does not implement.
  static Tokenizer from_file(const std::string& path);
  // Same from parsed JSON; `source` names it in errors.
  static Tokenizer from_json(const nlohmann::json& json, const std::string& source);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  // Token ids of UTF-8 `text`; added tokens written in the text become their ids. Throws for
  // text that is not valid UTF-8. Safe to call from several threads.
  std::vector<int32_t> encode(std::string_view text) const;
  // The same with no added token matched: "<|pad|>" in the text is seven characters, not the
  // audio placeholder. For text a user wrote (the prompt).
  std::vector<int32_t> encode_plain_text(std::string_view text) const;

  // Text of `ids`; with skip_special_tokens the added tokens marked special are left out.
  // Throws for an id the tokenizer does not have.
  std::string decode(std::span<const int32_t> ids, bool skip_special_tokens) const;

  // Bytes that id contributes to a decoded text (before UTF-8 repair); empty for a skipped
  // special token. Throws for an unknown id.
  std::string_view token_bytes(int32_t id, bool skip_special_tokens) const;

  // Id of the token written `content` (an added token such as "<|user|>", or a vocabulary entry
  // in its byte-level spelling).
  std::optional<int32_t> token_id(std::string_view content) const;
  // Same, throwing "<file>: expected a token '<content>', found none" when absent.
  int32_t require_token_id(std::string_view content) const;
  // The token string of id (added token content or byte-level vocabulary entry).
  std::optional<std::string> token_content(int32_t id) const;
  bool is_special(int32_t id) const;

  // One past the largest id.
  int32_t id_limit() const;
  const std::string& source() const;

 private:
  struct Impl;
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Decodes ids one at a time for streaming output: push() returns only text made of complete
// UTF-8 characters and keeps a trailing partial character until its remaining bytes arrive.
// The concatenation of every push() and finish() equals Tokenizer::decode of all the ids.
class IncrementalDecoder {
 public:
  IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens);

  std::string push(int32_t id);
  // Ends the stream: held bytes that never became a character come out as U+FFFD.
  std::string finish();

 private:
  const Tokenizer* tokenizer_;
  bool skip_special_tokens_;
  std::string pending_;  // bytes of an incomplete character
};

}  // namespace glmasr
