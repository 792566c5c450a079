// One pass over all blocks of a BlockStore, in order: the resident prefix is used in place, the
// rest streams through a SlotRing (copies K-1 blocks ahead on the copy stream). Usage, on the
// engine thread:  BlockPass p(store, 3); for i: { auto& w = p.acquire(i); ...; p.release(i); }
// then p.finish(). The views returned by acquire(i) are valid until release(i).
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <optional>

#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/memory_meter.hpp"
#include "worker/engine/runtime/slot_ring.hpp"

namespace ff::engine::rt {

class BlockPass {
 public:
  // Allocates the ring's slots on the device (when anything streams) and starts the first
  // copies. May throw an out-of-memory error. `store` must outlive the pass.
  BlockPass(BlockStore& store, int slots);
  ~BlockPass();
  BlockPass(const BlockPass&) = delete;
  BlockPass& operator=(const BlockPass&) = delete;

  // Block i's weights on the device, ordered after its copy on the compute stream.
  const BlockTensors& acquire(int i);
  // The compute stream has been given all work reading block i.
  void release(int i);
  // Waits for both streams; returns the streamed bytes and times. Idempotent.
  PassTimings finish();
  int64_t ring_bytes() const { return ring_bytes_; }

 private:
  BlockStore& store_;
  int resident_;
  std::unique_ptr<StreamOps> ops_;
  at::Tensor slots_buf_;
  int64_t ring_bytes_ = 0;
  std::optional<ScopedCharge> ring_charge_;
  std::unique_ptr<SlotRing> ring_;
  std::vector<void*> slot_ptrs_;
  BlockTensors current_;
  std::optional<PassTimings> done_;
};

}  // namespace ff::engine::rt
