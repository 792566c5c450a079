#include "worker/engine/runtime/slot_ring.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace ff::engine::rt {

SlotRing::SlotRing(StreamOps& ops, std::vector<HostRange> blocks, std::vector<void*> slots,
                   size_t slot_bytes)
    : ops_(ops), blocks_(std::move(blocks)), slots_(std::move(slots)) {
  // At least 3 slots (copies 2 ahead), unless there are fewer blocks: then each has its own.
  if (static_cast<int>(slots_.size()) < std::min<int>(kMinSlots, static_cast<int>(blocks_.size())) ||
      slots_.empty())
    throw std::invalid_argument("slot ring needs at least min(3, blocks) slots, got " +
                                std::to_string(slots_.size()));
  for (size_t j = 0; j < blocks_.size(); ++j)
    if (blocks_[j].bytes > slot_bytes)
      throw std::invalid_argument("block " + std::to_string(j) + " (" +
                                  std::to_string(blocks_[j].bytes) + " bytes) exceeds slot size " +
                                  std::to_string(slot_bytes));
}

void SlotRing::issue(int j) {
  const int k = slots();
  const int slot = j % k;
  // The slot's previous occupant is block j-k; it was released before this call (acquire(j')
  // issues at most j'+k-1, and j'-1 is released by then), so a device-side wait suffices.
  ops_.copy_to_slot(slot, slots_[slot], blocks_[j].data, blocks_[j].bytes, /*after_release=*/j >= k);
  issued_ = j + 1;
}

void SlotRing::start() {
  if (started_) throw std::logic_error("slot ring started twice");
  started_ = true;
  const int n = std::min<int>(slots(), static_cast<int>(blocks_.size()));
  for (int j = 0; j < n; ++j) issue(j);
}

int SlotRing::acquire(int j) {
  if (!started_) throw std::logic_error("slot ring: acquire before start");
  if (j != next_ || held_ != -1)
    throw std::logic_error("slot ring: blocks must be acquired in order and released (asked " +
                           std::to_string(j) + ", expected " + std::to_string(next_) + ")");
  const int last = std::min<int>(j + slots() - 1, static_cast<int>(blocks_.size()) - 1);
  while (issued_ <= last) issue(issued_);
  const int slot = j % slots();
  ops_.wait_filled(slot);
  held_ = j;
  next_ = j + 1;
  return slot;
}

void SlotRing::release(int j) {
  if (j != held_) throw std::logic_error("slot ring: release of a block not held: " + std::to_string(j));
  ops_.mark_released(j % slots());
  held_ = -1;
}

}  // namespace ff::engine::rt
