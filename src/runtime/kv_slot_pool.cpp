#include "runtime/kv_slot_pool.h"

#include "core/error.h"

namespace glmasr {

KvSlotPool::KvSlotPool(int slots) : capacity_(slots), in_use_(slots > 0 ? slots : 0, false) {
  GLMASR_CHECK(slots >= 1, "KV slot pool: expected at least one slot, got ", slots);
  for (int s = slots - 1; s >= 0; --s) free_.push_back(s);
}

std::optional<int> KvSlotPool::acquire() {
  if (free_.empty()) return std::nullopt;
  const int slot = free_.back();
  free_.pop_back();
  in_use_[slot] = true;
  return slot;
}

void KvSlotPool::release(int slot) {
  GLMASR_CHECK(slot >= 0 && slot < capacity_ && in_use_[slot], "KV slot pool: slot ", slot,
               " is not in use (capacity ", capacity_, ")");
  in_use_[slot] = false;
  free_.push_back(slot);
}

}  // namespace glmasr
