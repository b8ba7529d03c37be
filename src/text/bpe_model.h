// The BPE model of a byte-level tokenizer: vocabulary, merge ranks, and the merge loop of the
// tokenizers library (lowest rank first, leftmost first among equal ranks), with a word cache.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace glmasr {

struct BpeOptions {
  // A word that is itself in the vocabulary is emitted whole, without merging.
  bool ignore_merges = false;
  // Token for characters missing from the vocabulary; absent: such characters are dropped, as
  // the tokenizers library does.
  std::optional<std::string> unk_token;
  bool fuse_unk = false;  // consecutive unknown characters become one unk token
};

class BpeModel {
 public:
  // `vocab` maps byte-level strings to ids; merges are pairs in rank order (a later duplicate
  // of a pair replaces the earlier rank, as in the library). `source` names the file for errors.
  // Throws glmasr::Error when a merge names a piece (or a merged piece) missing from the vocab.
  BpeModel(std::unordered_map<std::string, int32_t> vocab,
           const std::vector<std::pair<std::string, std::string>>& merges, BpeOptions options,
           const std::string& source);
  ~BpeModel();
  BpeModel(BpeModel&&) noexcept;
  BpeModel& operator=(BpeModel&&) noexcept;

  // Encodes one pre-token given as raw bytes (the byte-level mapping is applied here) and
  // appends its ids to `ids`.
  void encode_word(std::string_view raw_bytes, std::vector<int32_t>& ids) const;

  std::optional<int32_t> token_id(std::string_view byte_level_token) const;
  const std::unordered_map<std::string, int32_t>& vocab() const { return vocab_; }

 private:
  struct MergeTarget {
    uint32_t rank;
    int32_t merged_id;
  };
  struct Cache;

  static uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  void merge_symbols(std::vector<int32_t>& symbols) const;
  void encode_uncached(std::string_view raw_bytes, std::vector<int32_t>& ids) const;

  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<uint64_t, MergeTarget> merges_;
  BpeOptions options_;
  int32_t unk_id_ = -1;
  int32_t byte_ids_[256];  // id of each byte's byte-level character, -1 when not in vocab
  std::unique_ptr<Cache> cache_;
};

}  // namespace glmasr
