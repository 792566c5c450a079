#include "worker/engine/runtime/block_pass.hpp"

#include <algorithm>

namespace ff::engine::rt {

BlockPass::BlockPass(BlockStore& store, int slots) : store_(store), resident_(store.resident_prefix()) {
  const int n = store_.size();
  if (resident_ >= n) return;
  const int k = std::min(std::max(kMinSlots, slots), n - resident_);
  int64_t largest = 0;
  std::vector<HostRange> ranges;
  for (int i = resident_; i < n; ++i) {
    largest = std::max(largest, store_.block_bytes(i));
    ranges.push_back({store_.host_data(i), static_cast<size_t>(store_.block_bytes(i))});
  }
  DeviceBackend& be = store_.backend();
  ring_bytes_ = k * largest;
  ring_charge_.emplace(be.meter(), ring_bytes_);
  slots_buf_ = at::empty({ring_bytes_}, at::TensorOptions().dtype(at::kByte).device(be.device()));
  auto* base = static_cast<uint8_t*>(slots_buf_.data_ptr());
  for (int s = 0; s < k; ++s) slot_ptrs_.push_back(base + s * largest);
  ops_ = be.make_stream_ops(k);
  ring_ = std::make_unique<SlotRing>(*ops_, std::move(ranges), slot_ptrs_, static_cast<size_t>(largest));
  ring_->start();
}

BlockPass::~BlockPass() {
  try {
    finish();
  } catch (...) {
    // A failed device sync while unwinding: nothing more can be done here.
  }
}

const BlockTensors& BlockPass::acquire(int i) {
  if (i < resident_) return store_.resident_views(i);
  const int slot = ring_->acquire(i - resident_);
  current_ = store_.layout(i).views(slot_ptrs_[slot], store_.backend().device());
  return current_;
}

void BlockPass::release(int i) {
  if (i < resident_) return;
  ring_->release(i - resident_);
}

PassTimings BlockPass::finish() {
  if (done_) return *done_;
  done_ = ops_ ? ops_->finish() : PassTimings{};
  return *done_;
}

}  // namespace ff::engine::rt
