// Ordering primitives between a copy stream (host -> device block copies) and the compute
// stream. SlotRing calls them in one fixed order; a backend maps them onto CUDA streams and
// events (no host synchronisation until finish()), onto plain memcpy (CPU builds), or onto a
// recorder (tests). All calls come from the engine thread.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ff::engine::rt {

// What one streamed pass cost, read at its end.
struct PassTimings {
  int64_t copied_bytes = 0;
  double copy_seconds = 0;   // summed duration of the copies (time copies were in flight)
  double stall_seconds = 0;  // time the compute stream waited for a copy
};

class StreamOps {
 public:
  virtual ~StreamOps() = default;
  // Copy stream: if `after_release`, first wait (device-side) until compute released `slot`;
  // then copy `bytes` from pinned host `src` to device `dst` and mark the slot filled.
  virtual void copy_to_slot(int slot, void* dst, const void* src, size_t bytes,
                            bool after_release) = 0;
  // Compute stream: wait (device-side) until the slot's last copy is complete.
  virtual void wait_filled(int slot) = 0;
  // Compute stream: everything enqueued so far that reads the slot is done with it.
  virtual void mark_released(int slot) = 0;
  // Ends the pass: blocks the host until both streams are idle, returns the pass's timings.
  virtual PassTimings finish() = 0;
};

}  // namespace ff::engine::rt
