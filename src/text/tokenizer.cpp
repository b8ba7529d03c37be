#include "text/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"
#include "io/json_file.h"
#include "text/added_tokens.h"
#include "text/bpe_model.h"
#include "text/byte_level.h"
#include "text/regex_splitter.h"
#include "text/utf8.h"

namespace glmasr {

namespace {

using nlohmann::json;

// The pattern of the ByteLevel pre-tokenizer when use_regex is true (GPT-2's).
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

// Ids are stored in dense tables; a file whose ids are far sparser than its token count is
// not a tokenizer this engine serves.
constexpr int64_t kMaxIdLimit = int64_t{1} << 24;

std::string component_type(const json& component) {
  if (component.is_null()) return "null";
  if (!component.is_object()) return component.type_name();
  const auto it = component.find("type");
  return it != component.end() && it->is_string() ? it->get<std::string>() : "<no type>";
}

[[noreturn]] void unsupported(const std::string& source, const std::string& component,
                              const std::string& type, const std::string& detail = "") {
  fail(source, ": unsupported ", component, " '", type, "'", detail.empty() ? "" : " (", detail,
       detail.empty() ? "" : ")");
}

bool flag(const json& object, const char* name, bool fallback) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return fallback;
  return it->get<bool>();
}

// A literal Split pattern as a regex: ASCII punctuation escaped, everything else literal.
std::string escape_literal(const std::string& text) {
  std::string out;
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !std::isalnum(u) && c != ' ') out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

struct Tokenizer::Impl {
  std::string source;
  std::unique_ptr<BpeModel> bpe;
  AddedTokenSplitter added_splitter;
  std::unordered_map<std::string, int32_t> added_ids;  // content -> id
  std::unordered_set<std::string> special_contents;

  // Pre-tokenizer: Split regexes in order, then ByteLevel.
  std::vector<RegexSplitter> splits;
  bool add_prefix_space = false;
  std::optional<RegexSplitter> byte_level_regex;

  // Per id: token string, decoded bytes, flags.
  std::vector<std::string> contents;
  std::vector<std::string> decoded;
  std::vector<uint8_t> known;
  std::vector<uint8_t> special;

  void load_normalizer(const json& normalizer);
  void load_pre_tokenizer(const json& pre_tokenizer);
  void add_pre_tokenizer_step(const json& step, bool& byte_level_seen);
  void load_model(const json& model);
  void load_added_tokens(const json& added_tokens);
  void load_decoder(const json& decoder);
  void build_id_tables();

  void encode_plain(std::string_view text, std::vector<int32_t>& ids) const;
  void check_id(int32_t id) const {
    GLMASR_CHECK(id >= 0 && id < static_cast<int32_t>(known.size()) && known[id], source,
                 ": expected a token id of this tokenizer, got ", id);
  }
};

void Tokenizer::Impl::load_normalizer(const json& normalizer) {
  if (normalizer.is_null()) return;
  // An empty Sequence changes nothing; anything else would rewrite the text before BPE.
  const std::string type = component_type(normalizer);
  if (type == "Sequence" && normalizer.value("normalizers", json::array()).empty()) return;
  unsupported(source, "normalizer", type);
}

void Tokenizer::Impl::add_pre_tokenizer_step(const json& step, bool& byte_level_seen) {
  const std::string type = component_type(step);
  if (type == "Sequence") {
    for (const json& inner : step.at("pretokenizers"))
      add_pre_tokenizer_step(inner, byte_level_seen);
    return;
  }
  if (byte_level_seen) {
    // After ByteLevel the text is in the byte alphabet; later steps would see that alphabet.
    unsupported(source, "pre_tokenizer", type, "only ByteLevel may come last");
  }
  if (type == "Split") {
    const std::string behavior = step.value("behavior", "");
    if (behavior != "Isolated")
      unsupported(source, "pre_tokenizer", "Split", cat("behavior ", behavior));
    // invert swaps which pieces are matches; with Isolated every piece stands alone either way.
    const json& pattern = step.at("pattern");
    if (pattern.contains("Regex")) {
      splits.emplace_back(pattern.at("Regex").get<std::string>(), source);
    } else if (pattern.contains("String")) {
      splits.emplace_back(escape_literal(pattern.at("String").get<std::string>()), source);
    } else {
      fail(source, ": pre_tokenizer Split: expected a pattern with Regex or String, got ",
           pattern.dump());
    }
    return;
  }
  if (type == "ByteLevel") {
    byte_level_seen = true;
    add_prefix_space = flag(step, "add_prefix_space", true);
    if (flag(step, "use_regex", true)) byte_level_regex.emplace(kGpt2Pattern, source);
    return;
  }
  unsupported(source, "pre_tokenizer", type);
}

void Tokenizer::Impl::load_pre_tokenizer(const json& pre_tokenizer) {
  bool byte_level_seen = false;
  if (!pre_tokenizer.is_null()) add_pre_tokenizer_step(pre_tokenizer, byte_level_seen);
  // Without ByteLevel the vocabulary would not be in the byte alphabet this BPE assumes.
  if (!byte_level_seen)
    unsupported(source, "pre_tokenizer", component_type(pre_tokenizer),
                "expected a ByteLevel step");
}

void Tokenizer::Impl::load_model(const json& model) {
  GLMASR_CHECK(model.is_object(), source, ": expected an object 'model', got ", model.type_name());
  const std::string type = component_type(model);
  // Old files leave out the type; the vocab + merges pair identifies BPE.
  if (type != "BPE" && !(type == "<no type>" && model.contains("merges")))
    unsupported(source, "model", type);
  if (model.contains("dropout") && !model["dropout"].is_null() &&
      model["dropout"].get<double>() != 0.0)
    unsupported(source, "model", "BPE", "dropout");
  if (flag(model, "byte_fallback", false)) unsupported(source, "model", "BPE", "byte_fallback");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    if (model.contains(affix) && !model[affix].is_null() &&
        !model[affix].get<std::string>().empty())
      unsupported(source, "model", "BPE", affix);
  }

  BpeOptions options;
  options.ignore_merges = flag(model, "ignore_merges", false);
  options.fuse_unk = flag(model, "fuse_unk", false);
  if (model.contains("unk_token") && !model["unk_token"].is_null())
    options.unk_token = model["unk_token"].get<std::string>();

  const json& vocab_json = model.at("vocab");
  GLMASR_CHECK(vocab_json.is_object(), source, ": expected model.vocab to be an object, got ",
               vocab_json.type_name());
  std::unordered_map<std::string, int32_t> vocab;
  vocab.reserve(vocab_json.size());
  for (const auto& [token, id] : vocab_json.items()) {
    // Only integers: a float such as 2.9e43 converted to int64_t is undefined behaviour (found by
    // the tokenizer fuzzer), and unsigned values above INT64_MAX would wrap.
    GLMASR_CHECK(id.is_number_integer() &&
                     (!id.is_number_unsigned() || id.get<uint64_t>() < uint64_t{kMaxIdLimit}),
                 source, ": model.vocab['", token, "']: expected an integer id in 0..",
                 kMaxIdLimit - 1, ", got ", id.dump());
    const int64_t value = id.get<int64_t>();
    GLMASR_CHECK(value >= 0 && value < kMaxIdLimit, source, ": model.vocab['", token,
                 "']: expected an id in 0..", kMaxIdLimit - 1, ", got ", value);
    vocab.emplace(token, static_cast<int32_t>(value));
  }

  std::vector<std::pair<std::string, std::string>> merges;
  const json& merges_json = model.at("merges");
  GLMASR_CHECK(merges_json.is_array(), source, ": expected model.merges to be an array, got ",
               merges_json.type_name());
  merges.reserve(merges_json.size());
  for (const json& merge : merges_json) {
    if (merge.is_string()) {
      // Legacy "a b" form: exactly one space; "#version" header lines are not merges.
      const std::string line = merge.get<std::string>();
      if (line.rfind("#version", 0) == 0) continue;
      const size_t space = line.find(' ');
      GLMASR_CHECK(space != std::string::npos && line.find(' ', space + 1) == std::string::npos,
                   source, ": model.merges[", merges.size(),
                   "]: expected two pieces separated by one space, got '", line, "'");
      merges.emplace_back(line.substr(0, space), line.substr(space + 1));
    } else {
      GLMASR_CHECK(merge.is_array() && merge.size() == 2, source, ": model.merges[", merges.size(),
                   "]: expected \"a b\" or [\"a\", \"b\"], got ", merge.dump());
      merges.emplace_back(merge[0].get<std::string>(), merge[1].get<std::string>());
    }
  }
  bpe = std::make_unique<BpeModel>(std::move(vocab), merges, std::move(options), source);
}

// Ids are assigned as the library does when it reads the file: a token already in the vocab
// keeps that id, others are numbered on from the vocab size (the "id" field is only a hint).
void Tokenizer::Impl::load_added_tokens(const json& added_tokens) {
  std::vector<AddedToken> tokens;
  std::unordered_map<int32_t, size_t> token_index_by_id;
  int64_t next_id = static_cast<int64_t>(bpe->vocab().size());
  for (const json& entry : added_tokens) {
    AddedToken token;
    token.content = entry.at("content").get<std::string>();
    if (token.content.empty()) continue;
    token.single_word = flag(entry, "single_word", false);
    token.lstrip = flag(entry, "lstrip", false);
    token.rstrip = flag(entry, "rstrip", false);
    token.normalized = flag(entry, "normalized", true);
    token.special = flag(entry, "special", false);
    GLMASR_CHECK(is_valid_utf8(token.content), source, ": added token ", entry.dump(),
                 " is not valid UTF-8");
    if (const auto it = added_ids.find(token.content); it != added_ids.end()) {
      token.id = it->second;
    } else if (const auto vocab_id = bpe->token_id(token.content)) {
      token.id = *vocab_id;
    } else {
      GLMASR_CHECK(next_id < kMaxIdLimit, source, ": too many added tokens");
      token.id = static_cast<int32_t>(next_id++);
    }
    added_ids[token.content] = token.id;
    if (token.special) special_contents.insert(token.content);
    if (const auto it = token_index_by_id.find(token.id); it != token_index_by_id.end()) {
      tokens[it->second] = token;  // the later definition of an id wins
    } else {
      token_index_by_id[token.id] = tokens.size();
      tokens.push_back(token);
    }
  }
  added_splitter = AddedTokenSplitter(tokens);
  for (const AddedToken& token : tokens) {
    if (token.id >= static_cast<int32_t>(contents.size())) {
      contents.resize(token.id + 1);
      known.resize(token.id + 1, 0);
    }
    contents[token.id] = token.content;
    known[token.id] = 1;
  }
}

void Tokenizer::Impl::load_decoder(const json& decoder) {
  const std::string type = component_type(decoder);
  if (type != "ByteLevel") unsupported(source, "decoder", type);
}

void Tokenizer::Impl::build_id_tables() {
  int32_t limit = static_cast<int32_t>(contents.size());
  for (const auto& [token, id] : bpe->vocab()) limit = std::max(limit, id + 1);
  contents.resize(limit);
  known.resize(limit, 0);
  for (const auto& [token, id] : bpe->vocab()) {
    if (known[id]) continue;  // an added token's content wins, as in the library's lookup
    contents[id] = token;
    known[id] = 1;
  }
  decoded.resize(limit);
  special.assign(limit, 0);
  for (int32_t id = 0; id < limit; ++id) {
    if (!known[id]) continue;
    special[id] = special_contents.count(contents[id]) != 0;
    // The ByteLevel decoder keeps a token verbatim when one of its characters is outside the
    // byte alphabet (as added tokens may be).
    if (!byte_level_to_bytes(contents[id], decoded[id])) decoded[id] = contents[id];
  }
}

void Tokenizer::Impl::encode_plain(std::string_view text, std::vector<int32_t>& ids) const {
  std::vector<std::string_view> pieces{text};
  std::vector<std::string_view> next_pieces;
  for (const RegexSplitter& splitter : splits) {
    next_pieces.clear();
    for (std::string_view piece : pieces) splitter.split(piece, next_pieces);
    pieces.swap(next_pieces);
  }
  std::string prefixed;
  std::vector<std::string_view> words;
  for (std::string_view piece : pieces) {
    if (add_prefix_space && piece.front() != ' ') {
      prefixed.assign(1, ' ');
      prefixed += piece;
      piece = prefixed;
    }
    if (!byte_level_regex) {
      bpe->encode_word(piece, ids);
      continue;
    }
    words.clear();
    byte_level_regex->split(piece, words);
    for (std::string_view word : words) bpe->encode_word(word, ids);
  }
}

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

Tokenizer Tokenizer::from_file(const std::string& path) {
  return from_json(read_json_file(path), path);
}

Tokenizer Tokenizer::from_json(const json& root, const std::string& source) {
  auto impl = std::make_unique<Impl>();
  impl->source = source;
  GLMASR_CHECK(root.is_object(), source, ": expected a tokenizer.json object, got ",
               root.type_name());
  try {
    GLMASR_CHECK(root.contains("model"), source, ": expected a 'model' entry, found none");
    impl->load_normalizer(root.value("normalizer", json()));
    impl->load_pre_tokenizer(root.value("pre_tokenizer", json()));
    impl->load_model(root.at("model"));
    impl->load_added_tokens(root.value("added_tokens", json::array()));
    impl->load_decoder(root.value("decoder", json()));
    // post_processor is ignored on purpose: the engine never adds special tokens around text.
    impl->build_id_tables();
  } catch (const json::exception& e) {
    fail(source, ": malformed tokenizer.json: ", e.what());
  }
  return Tokenizer(std::move(impl));
}

namespace {

// Checks that `text` can be tokenized and returns an id buffer sized for it.
std::vector<int32_t> start_ids_for(std::string_view text) {
  const size_t invalid_at = first_invalid_utf8(text);
  GLMASR_CHECK(invalid_at == text.size(),
               "text to tokenize: expected UTF-8, got an invalid byte sequence at offset ",
               invalid_at);
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  return ids;
}

}  // namespace

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids = start_ids_for(text);
  for (const TextSegment& segment : impl_->added_splitter.split(text)) {
    if (segment.token_id >= 0)
      ids.push_back(segment.token_id);
    else
      impl_->encode_plain(text.substr(segment.begin, segment.end - segment.begin), ids);
  }
  return ids;
}

std::vector<int32_t> Tokenizer::encode_plain_text(std::string_view text) const {
  std::vector<int32_t> ids = start_ids_for(text);
  impl_->encode_plain(text, ids);
  return ids;
}

std::string_view Tokenizer::token_bytes(int32_t id, bool skip_special_tokens) const {
  impl_->check_id(id);
  if (skip_special_tokens && impl_->special[id]) return {};
  return impl_->decoded[id];
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special_tokens) const {
  std::string bytes;
  for (int32_t id : ids) bytes += token_bytes(id, skip_special_tokens);
  return decode_utf8_lossy(bytes);
}

std::optional<int32_t> Tokenizer::token_id(std::string_view content) const {
  if (const auto it = impl_->added_ids.find(std::string(content)); it != impl_->added_ids.end())
    return it->second;
  return impl_->bpe->token_id(content);
}

int32_t Tokenizer::require_token_id(std::string_view content) const {
  const auto id = token_id(content);
  GLMASR_CHECK(id, impl_->source, ": expected a token '", content, "', found none");
  return *id;
}

std::optional<std::string> Tokenizer::token_content(int32_t id) const {
  if (id < 0 || id >= id_limit() || !impl_->known[id]) return std::nullopt;
  return impl_->contents[id];
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < id_limit() && impl_->special[id];
}

int32_t Tokenizer::id_limit() const {
  return static_cast<int32_t>(impl_->known.size());
}

const std::string& Tokenizer::source() const {
  return impl_->source;
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens) {}

std::string IncrementalDecoder::push(int32_t id) {
  pending_ += tokenizer_->token_bytes(id, skip_special_tokens_);
  std::string text;
  const size_t consumed = decode_utf8_lossy_stable_prefix(pending_, text);
  pending_.erase(0, consumed);
  return text;
}

std::string IncrementalDecoder::finish() {
  std::string text = decode_utf8_lossy(pending_);
  pending_.clear();
  return text;
}

}  // namespace glmasr
