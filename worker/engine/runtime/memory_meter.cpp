#include "worker/engine/runtime/memory_meter.hpp"

#include <algorithm>

namespace ff::engine::rt {

MemorySnapshot CpuMemoryMeter::snapshot() {
  std::lock_guard lock(mu_);
  MemorySnapshot s;
  s.allocated_bytes = allocated_;
  s.reserved_bytes = allocated_;
  s.total_bytes = capacity_;
  s.cap_bytes = cap_ >= 0 ? cap_ : capacity_;
  s.free_bytes = std::max<int64_t>(0, capacity_ - allocated_);
  return s;
}

void CpuMemoryMeter::reset_peak() {
  std::lock_guard lock(mu_);
  peak_ = allocated_;
}

int64_t CpuMemoryMeter::peak_bytes() {
  std::lock_guard lock(mu_);
  return peak_;
}

void CpuMemoryMeter::charge(int64_t bytes) {
  std::lock_guard lock(mu_);
  const int64_t limit = cap_ >= 0 ? std::min(cap_, capacity_) : capacity_;
  if (allocated_ + bytes > limit)
    throw OutOfMemory("device memory budget exceeded: " + std::to_string(allocated_) +
                      " bytes held, " + std::to_string(bytes) + " more asked, cap " +
                      std::to_string(limit));
  allocated_ += bytes;
  peak_ = std::max(peak_, allocated_);
}

void CpuMemoryMeter::release(int64_t bytes) {
  std::lock_guard lock(mu_);
  allocated_ = std::max<int64_t>(0, allocated_ - bytes);
}

void CpuMemoryMeter::set_cap(int64_t cap_bytes) {
  std::lock_guard lock(mu_);
  cap_ = cap_bytes;
}

}  // namespace ff::engine::rt
