// Test double: StreamOps that performs copies at once (memcpy) and records every ordering
// primitive in call order, so tests can check the slot ring's schedule.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::test {

struct OpEvent {
  enum Kind { kCopy, kWaitFilled, kRelease } kind;
  int slot;
  const void* src = nullptr;  // kCopy: which host block
  bool after_release = false;
};

class RecordingStreamOps final : public ff::engine::rt::StreamOps {
 public:
  void copy_to_slot(int slot, void* dst, const void* src, size_t bytes, bool after_release) override {
    std::memcpy(dst, src, bytes);
    log.push_back({OpEvent::kCopy, slot, src, after_release});
    copied += static_cast<int64_t>(bytes);
  }
  void wait_filled(int slot) override { log.push_back({OpEvent::kWaitFilled, slot}); }
  void mark_released(int slot) override { log.push_back({OpEvent::kRelease, slot}); }
  ff::engine::rt::PassTimings finish() override {
    ff::engine::rt::PassTimings t;
    t.copied_bytes = copied;
    return t;
  }
  std::vector<OpEvent> log;
  int64_t copied = 0;
};

}  // namespace ff::test
