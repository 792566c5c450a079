// The device the engine runs on, behind one interface: host memory for slabs (pinned on CUDA),
// copy/compute ordering (StreamOps), and memory figures (MemoryMeter). make_backend("cpu") works
// on every build; "cuda:N" only on builds with FRAMEFARM_CUDA (define FF_WITH_CUDA).
#pragma once

#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "worker/engine/runtime/memory_meter.hpp"
#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::engine::rt {

class DeviceBackend {
 public:
  virtual ~DeviceBackend() = default;
  virtual at::Device device() const = 0;
  // "cuda:0" or "cpu".
  virtual std::string name() const = 0;
  // The GPU's product name, or "cpu".
  virtual std::string device_name() const = 0;
  // One host allocation of `bytes`, 256-B aligned; page-locked (cudaHostAlloc) on CUDA.
  // Throws std::runtime_error naming the size when it fails. Engine thread.
  virtual void* alloc_host(size_t bytes) = 0;
  virtual void free_host(void* p) noexcept = 0;
  virtual bool host_pinned() const = 0;
  // Fresh copy/compute ordering for one streamed pass with `slots` slots. Engine thread.
  virtual std::unique_ptr<StreamOps> make_stream_ops(int slots) = 0;
  virtual MemoryMeter& meter() = 0;
  // Caps this process's device allocations at `bytes` (the VRAM budget): over it, allocation
  // fails with an out-of-memory error instead of using the rest of the card.
  virtual void cap_allocations(int64_t bytes) = 0;
  // Copies device tensor `src` into host tensor `dst` (pinned where host_pinned()) without holding
  // up the compute stream: on CUDA, on a side stream ordered after the compute stream's work so far,
  // with src's memory kept valid until the copy is done. Complete after synchronize(). Engine thread.
  virtual void copy_to_host_async(const at::Tensor& dst, const at::Tensor& src) = 0;
  // Waits until all device work enqueued by this thread is done.
  virtual void synchronize() = 0;
};

// CPU backend: aligned host allocations, synchronous memcpy "copies", byte accounting with
// `capacity_bytes` playing the device's memory.
std::unique_ptr<DeviceBackend> make_cpu_backend(int64_t capacity_bytes);

// "cpu" or "cuda" / "cuda:N". Throws std::invalid_argument for other names, and for CUDA devices
// on builds without CUDA. cpu_capacity_bytes is used by the CPU backend only.
std::unique_ptr<DeviceBackend> make_backend(const std::string& device, int64_t cpu_capacity_bytes);

// True on builds compiled with CUDA support and at least one visible GPU.
bool cuda_available();

}  // namespace ff::engine::rt
