// Which KV slots of an engine are free. The engine owns the cache memory (its layout is the
// device's business); the engine loop owns this pool and hands a slot to each sequence it
// admits, for the sequence's lifetime.
#pragma once

#include <optional>
#include <vector>

namespace glmasr {

class KvSlotPool {
 public:
  explicit KvSlotPool(int slots);

  int capacity() const { return capacity_; }
  int in_use() const { return capacity_ - static_cast<int>(free_.size()); }
  int available() const { return static_cast<int>(free_.size()); }

  // A free slot (the most recently released first: a light load keeps reusing the same few), or
  // none.
  std::optional<int> acquire();
  // Throws glmasr::Error for a slot that is out of range or not in use.
  void release(int slot);

 private:
  int capacity_;
  std::vector<int> free_;     // a stack: slot 0 on top at the start
  std::vector<bool> in_use_;  // per slot
};

}  // namespace glmasr
