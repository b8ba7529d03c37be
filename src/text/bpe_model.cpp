#include "text/bpe_model.h"

#include <mutex>
#include <queue>

#include "core/error.h"
#include "text/byte_level.h"

namespace glmasr {

// Words seen before, with their ids. Texts repeat words a lot; the lock is uncontended in the
// common single-request case and cheap next to a merge loop.
struct BpeModel::Cache {
  static constexpr size_t kMaxEntries = 100000;
  static constexpr size_t kMaxWordBytes = 256;  // longer words are rare and not worth keeping
  std::mutex mutex;
  std::unordered_map<std::string, std::vector<int32_t>> words;
};

BpeModel::BpeModel(std::unordered_map<std::string, int32_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions options, const std::string& source)
    : vocab_(std::move(vocab)), options_(std::move(options)), cache_(std::make_unique<Cache>()) {
  const auto lookup = [&](const std::string& piece, size_t rank) {
    const auto it = vocab_.find(piece);
    GLMASR_CHECK(it != vocab_.end(), source, ": merge ", rank, " uses '", piece,
                 "', expected a token of model.vocab");
    return it->second;
  };
  merges_.reserve(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [left, right] = merges[rank];
    const int32_t left_id = lookup(left, rank);
    const int32_t right_id = lookup(right, rank);
    const int32_t merged_id = lookup(left + right, rank);
    merges_[pair_key(left_id, right_id)] = {static_cast<uint32_t>(rank), merged_id};
  }
  for (int b = 0; b < 256; ++b) {
    const auto it = vocab_.find(byte_level_char(static_cast<unsigned char>(b)));
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }
  if (options_.unk_token) {
    const auto it = vocab_.find(*options_.unk_token);
    GLMASR_CHECK(it != vocab_.end(), source, ": model.unk_token '", *options_.unk_token,
                 "' is not in model.vocab");
    unk_id_ = it->second;
  }
}

BpeModel::~BpeModel() = default;
BpeModel::BpeModel(BpeModel&&) noexcept = default;
BpeModel& BpeModel::operator=(BpeModel&&) noexcept = default;

std::optional<int32_t> BpeModel::token_id(std::string_view byte_level_token) const {
  const auto it = vocab_.find(std::string(byte_level_token));
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

// The library's merge loop: a min-heap of (rank, position) over adjacent pairs; stale entries
// (a side already merged away) are skipped when popped. Symbols stay in place and are linked,
// so a position names the same left symbol for its whole life.
void BpeModel::merge_symbols(std::vector<int32_t>& symbols) const {
  const int n = static_cast<int>(symbols.size());
  if (n < 2) return;
  std::vector<int> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (int i = 0; i < n; ++i) {
    prev[i] = i - 1;
    next[i] = i + 1 < n ? i + 1 : -1;
  }
  struct Candidate {
    uint32_t rank;
    int position;
    int32_t merged_id;
    bool operator>(const Candidate& other) const {
      return rank != other.rank ? rank > other.rank : position > other.position;
    }
  };
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  const auto push_pair = [&](int left) {
    const int right = next[left];
    if (right < 0) return;
    const auto it = merges_.find(pair_key(symbols[left], symbols[right]));
    if (it != merges_.end()) queue.push({it->second.rank, left, it->second.merged_id});
  };
  for (int i = 0; i + 1 < n; ++i) push_pair(i);

  while (!queue.empty()) {
    const Candidate top = queue.top();
    queue.pop();
    const int left = top.position;
    if (!alive[left] || next[left] < 0) continue;
    const int right = next[left];
    const auto it = merges_.find(pair_key(symbols[left], symbols[right]));
    if (it == merges_.end() || it->second.merged_id != top.merged_id) continue;
    symbols[left] = top.merged_id;
    alive[right] = false;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    if (prev[left] >= 0) push_pair(prev[left]);
    push_pair(left);
  }
  size_t kept = 0;
  for (int i = 0; i < n; ++i)
    if (alive[i]) symbols[kept++] = symbols[i];
  symbols.resize(kept);
}

void BpeModel::encode_uncached(std::string_view raw_bytes, std::vector<int32_t>& ids) const {
  std::vector<int32_t> symbols;
  symbols.reserve(raw_bytes.size());
  bool previous_was_unk = false;
  for (unsigned char b : raw_bytes) {
    const int32_t id = byte_ids_[b];
    if (id >= 0) {
      symbols.push_back(id);
      previous_was_unk = false;
    } else if (unk_id_ >= 0) {
      if (!(options_.fuse_unk && previous_was_unk)) symbols.push_back(unk_id_);
      previous_was_unk = true;
    }
    // Without an unk token the library silently drops characters missing from the vocab.
  }
  merge_symbols(symbols);
  ids.insert(ids.end(), symbols.begin(), symbols.end());
}

void BpeModel::encode_word(std::string_view raw_bytes, std::vector<int32_t>& ids) const {
  if (raw_bytes.empty()) return;
  if (options_.ignore_merges) {
    const auto it = vocab_.find(bytes_to_byte_level(raw_bytes));
    if (it != vocab_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = raw_bytes.size() < Cache::kMaxWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    const auto it = cache_->words.find(std::string(raw_bytes));
    if (it != cache_->words.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  const size_t first = ids.size();
  encode_uncached(raw_bytes, ids);
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= Cache::kMaxEntries) cache_->words.clear();
    cache_->words.emplace(std::string(raw_bytes),
                          std::vector<int32_t>(ids.begin() + first, ids.end()));
  }
}

}  // namespace glmasr
