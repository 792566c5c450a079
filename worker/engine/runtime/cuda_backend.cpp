// CUDA backend: compiled only when FRAMEFARM_CUDA is ON (define FF_WITH_CUDA).
#include <ATen/cuda/CUDAEvent.h>
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "worker/engine/runtime/device_backend.hpp"

namespace ff::engine::rt {
namespace {

namespace alloc = c10::cuda::CUDACachingAllocator;

// Copies on a pool stream, compute on the thread's current stream. Per slot: a "filled" event
// (copy stream) and a "released" event (compute stream) order the two streams device-side; timing
// events around each copy and each wait are read once, in finish().
class CudaStreamOps final : public StreamOps {
 public:
  CudaStreamOps(int slots, c10::DeviceIndex dev)
      : copy_(c10::cuda::getStreamFromPool(false, dev)),
        compute_(c10::cuda::getCurrentCUDAStream(dev)),
        filled_(slots),
        released_(slots) {}

  void copy_to_slot(int slot, void* dst, const void* src, size_t bytes, bool after_release) override {
    if (after_release) released_[slot].block(copy_);
    at::cuda::CUDAEvent& a = copy_marks_.emplace_back(cudaEventDefault);
    a.record(copy_);
    C10_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, copy_.stream()));
    at::cuda::CUDAEvent& b = copy_marks_.emplace_back(cudaEventDefault);
    b.record(copy_);
    filled_[slot].record(copy_);
    copied_ += static_cast<int64_t>(bytes);
  }

  void wait_filled(int slot) override {
    at::cuda::CUDAEvent& a = stall_marks_.emplace_back(cudaEventDefault);
    a.record(compute_);
    filled_[slot].block(compute_);
    at::cuda::CUDAEvent& b = stall_marks_.emplace_back(cudaEventDefault);
    b.record(compute_);
  }

  void mark_released(int slot) override { released_[slot].record(compute_); }

  PassTimings finish() override {
    copy_.synchronize();
    compute_.synchronize();
    PassTimings t;
    t.copied_bytes = copied_;
    for (size_t i = 0; i + 1 < copy_marks_.size(); i += 2)
      t.copy_seconds += copy_marks_[i].elapsed_time(copy_marks_[i + 1]) / 1e3;
    for (size_t i = 0; i + 1 < stall_marks_.size(); i += 2)
      t.stall_seconds += stall_marks_[i].elapsed_time(stall_marks_[i + 1]) / 1e3;
    return t;
  }

 private:
  c10::cuda::CUDAStream copy_;
  c10::cuda::CUDAStream compute_;
  std::vector<at::cuda::CUDAEvent> filled_;
  std::vector<at::cuda::CUDAEvent> released_;
  std::deque<at::cuda::CUDAEvent> copy_marks_;
  std::deque<at::cuda::CUDAEvent> stall_marks_;
  int64_t copied_ = 0;
};

class CudaMemoryMeter final : public MemoryMeter {
 public:
  explicit CudaMemoryMeter(c10::DeviceIndex dev) : dev_(dev) {}
  MemorySnapshot snapshot() override {
    MemorySnapshot s;
    size_t free_b = 0, total_b = 0;
    C10_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const auto stats = alloc::getDeviceStats(dev_);
    s.allocated_bytes = stats.allocated_bytes[0].current;
    s.reserved_bytes = stats.reserved_bytes[0].current;
    s.free_bytes = static_cast<int64_t>(free_b);
    s.total_bytes = static_cast<int64_t>(total_b);
    s.cap_bytes = cap_ > 0 ? cap_ : s.total_bytes;
    return s;
  }
  void reset_peak() override { alloc::resetPeakStats(dev_); }
  int64_t peak_bytes() override { return alloc::getDeviceStats(dev_).allocated_bytes[0].peak; }
  void charge(int64_t) override {}
  void release(int64_t) override {}
  void set_cap(int64_t cap) { cap_ = cap; }

 private:
  c10::DeviceIndex dev_;
  int64_t cap_ = 0;
};

class CudaBackend final : public DeviceBackend {
 public:
  explicit CudaBackend(int index) : dev_(static_cast<c10::DeviceIndex>(index)), meter_(dev_) {
    if (index >= c10::cuda::device_count())
      throw std::invalid_argument("cuda:" + std::to_string(index) + " does not exist (" +
                                  std::to_string(c10::cuda::device_count()) + " GPUs visible)");
    C10_CUDA_CHECK(cudaSetDevice(index));
    cudaDeviceProp prop{};
    C10_CUDA_CHECK(cudaGetDeviceProperties(&prop, index));
    gpu_name_ = prop.name;
  }
  at::Device device() const override { return at::Device(at::kCUDA, dev_); }
  std::string name() const override { return "cuda:" + std::to_string(int(dev_)); }
  std::string device_name() const override { return gpu_name_; }
  void* alloc_host(size_t bytes) override {
    void* p = nullptr;
    const cudaError_t err = cudaHostAlloc(&p, bytes > 0 ? bytes : 1, cudaHostAllocDefault);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      throw std::runtime_error("pinned host allocation of " + std::to_string(bytes) +
                               " bytes failed: " + cudaGetErrorString(err));
    }
    return p;
  }
  void free_host(void* p) noexcept override {
    if (p) (void)cudaFreeHost(p);
  }
  bool host_pinned() const override { return true; }
  std::unique_ptr<StreamOps> make_stream_ops(int slots) override {
    return std::make_unique<CudaStreamOps>(slots, dev_);
  }
  MemoryMeter& meter() override { return meter_; }
  void cap_allocations(int64_t bytes) override {
    // setMemoryFraction needs an initialised allocator: allocate once first.
    (void)at::empty({1}, at::TensorOptions().device(device()).dtype(at::kByte));
    size_t free_b = 0, total_b = 0;
    C10_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
    const double fraction = std::min(1.0, static_cast<double>(bytes) / static_cast<double>(total_b));
    alloc::setMemoryFraction(fraction, dev_);
    meter_.set_cap(bytes);
  }
  void copy_to_host_async(const at::Tensor& dst, const at::Tensor& src) override {
    if (!to_host_) to_host_.emplace(c10::cuda::getStreamFromPool(false, dev_));
    at::cuda::CUDAEvent ready;
    ready.record(c10::cuda::getCurrentCUDAStream(dev_));
    ready.block(*to_host_);
    {
      c10::cuda::CUDAStreamGuard on_side_stream(*to_host_);
      dst.copy_(src, /*non_blocking=*/true);
    }
    alloc::recordStream(src.storage().data_ptr(), *to_host_);
  }
  void synchronize() override { C10_CUDA_CHECK(cudaDeviceSynchronize()); }

 private:
  c10::DeviceIndex dev_;
  std::optional<c10::cuda::CUDAStream> to_host_;  // device-to-host copies beside the compute stream
  CudaMemoryMeter meter_;
  std::string gpu_name_;
};

}  // namespace

std::unique_ptr<DeviceBackend> make_cuda_backend(int device_index) {
  return std::make_unique<CudaBackend>(device_index);
}

bool cuda_device_present() { return c10::cuda::device_count() > 0; }

}  // namespace ff::engine::rt
