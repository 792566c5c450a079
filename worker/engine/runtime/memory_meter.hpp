// Device memory figures for placement and VRAM accounting. On CUDA they come from the caching
// allocator and cudaMemGetInfo; on CPU builds from byte accounting: the engine charges the
// buffers it holds (resident blocks, GPU slots, activations) to a CpuMemoryMeter.
#pragma once

#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>

namespace ff::engine::rt {

// Thrown by byte accounting when a charge would exceed the meter's capacity (the CPU analogue
// of the caching allocator's c10::OutOfMemoryError under setMemoryFraction).
class OutOfMemory : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct MemorySnapshot {
  int64_t allocated_bytes = 0;  // live tensors of this process
  int64_t reserved_bytes = 0;   // held by the allocator (>= allocated)
  int64_t free_bytes = 0;       // free on the device, outside this process's allocator
  int64_t total_bytes = 0;      // the device's memory
  int64_t cap_bytes = 0;        // allocator cap (budget), total_bytes when uncapped
};

class MemoryMeter {
 public:
  virtual ~MemoryMeter() = default;
  // Live figures. Any thread.
  virtual MemorySnapshot snapshot() = 0;
  // Starts a phase: the peak restarts from the current allocation. Engine thread.
  virtual void reset_peak() = 0;
  // Highest allocation since the last reset_peak(). Engine thread.
  virtual int64_t peak_bytes() = 0;
  // Byte accounting (CPU builds): the caller now holds `bytes` more / fewer device bytes.
  // charge() throws OutOfMemory when over the cap. No-ops where the allocator counts itself.
  virtual void charge(int64_t bytes) = 0;
  virtual void release(int64_t bytes) = 0;
};

// Byte accounting. capacity_bytes plays the device's memory (and budget cap).
class CpuMemoryMeter final : public MemoryMeter {
 public:
  explicit CpuMemoryMeter(int64_t capacity_bytes) : capacity_(capacity_bytes) {}
  MemorySnapshot snapshot() override;
  void reset_peak() override;
  int64_t peak_bytes() override;
  void charge(int64_t bytes) override;
  void release(int64_t bytes) override;
  // Caps the accounted bytes (like setMemoryFraction). Engine thread.
  void set_cap(int64_t cap_bytes);

 private:
  std::mutex mu_;
  int64_t capacity_;
  int64_t cap_ = -1;
  int64_t allocated_ = 0;
  int64_t peak_ = 0;
};

// Holds `bytes` charged to a meter for its lifetime (RAII over charge/release).
class ScopedCharge {
 public:
  ScopedCharge(MemoryMeter& meter, int64_t bytes) : meter_(&meter), bytes_(bytes) {
    meter_->charge(bytes_);
  }
  ~ScopedCharge() { if (meter_) meter_->release(bytes_); }
  ScopedCharge(ScopedCharge&& o) noexcept : meter_(o.meter_), bytes_(o.bytes_) { o.meter_ = nullptr; }
  ScopedCharge(const ScopedCharge&) = delete;
  ScopedCharge& operator=(const ScopedCharge&) = delete;
  ScopedCharge& operator=(ScopedCharge&&) = delete;

 private:
  MemoryMeter* meter_;
  int64_t bytes_;
};

}  // namespace ff::engine::rt
