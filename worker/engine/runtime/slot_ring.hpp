// A ring of K >= 3 device slots (or one per block when there are fewer blocks) through which a component's streamed blocks pass in order.
// Block j goes to slot j % K. Copies run K-1 (>= 2) blocks ahead of compute: acquiring block j
// issues the copies of blocks up to j+K-1; the copy into a slot that held block j-K waits for
// the compute stream's release event of j-K (device-side), so a slot is never overwritten
// while compute may still read it, and the host never waits in the steady state.
#pragma once

#include <cstddef>
#include <vector>

#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::engine::rt {

inline constexpr int kMinSlots = 3;

struct HostRange {
  const void* data = nullptr;
  size_t bytes = 0;
};

class SlotRing {
 public:
  // blocks: host sources in compute order; slots: K device buffers, each at least as large as
  // the largest block. Throws std::invalid_argument when K < 3 or a slot is too small (sizes
  // given by slot_bytes). `ops` must outlive the ring.
  SlotRing(StreamOps& ops, std::vector<HostRange> blocks, std::vector<void*> slots,
           size_t slot_bytes);
  // Issues the first min(K, blocks) copies. Call once, before the first acquire.
  void start();
  // Makes the compute stream wait for block j's copy and returns its slot index. Blocks must be
  // acquired in order 0, 1, ...; each after the previous one was released.
  int acquire(int j);
  // Compute is done enqueueing work that reads block j; its slot may be refilled.
  void release(int j);
  int slots() const { return static_cast<int>(slots_.size()); }
  // Highest block index whose copy has been issued (-1 before start()).
  int issued_up_to() const { return issued_ - 1; }

 private:
  void issue(int j);
  StreamOps& ops_;
  std::vector<HostRange> blocks_;
  std::vector<void*> slots_;
  int issued_ = 0;     // copies issued for blocks [0, issued_)
  int next_ = 0;       // next block to acquire
  int held_ = -1;      // block acquired and not yet released
  bool started_ = false;
};

}  // namespace ff::engine::rt
