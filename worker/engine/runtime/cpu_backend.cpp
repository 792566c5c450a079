#include <chrono>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "worker/engine/runtime/block_layout.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::engine::rt {
namespace {

// Copies happen at once on the calling thread: the compute "stream" is the same thread, so the
// whole copy time counts as stall.
class CpuStreamOps final : public StreamOps {
 public:
  void copy_to_slot(int, void* dst, const void* src, size_t bytes, bool) override {
    const auto t0 = std::chrono::steady_clock::now();
    std::memcpy(dst, src, bytes);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    t_.copied_bytes += static_cast<int64_t>(bytes);
    t_.copy_seconds += s;
    t_.stall_seconds += s;
  }
  void wait_filled(int) override {}
  void mark_released(int) override {}
  PassTimings finish() override { return t_; }

 private:
  PassTimings t_;
};

class CpuBackend final : public DeviceBackend {
 public:
  explicit CpuBackend(int64_t capacity) : meter_(capacity) {}
  at::Device device() const override { return at::kCPU; }
  std::string name() const override { return "cpu"; }
  std::string device_name() const override { return "cpu"; }
  void* alloc_host(size_t bytes) override {
    void* p = std::aligned_alloc(kBlockAlignBytes, align_up(std::max<size_t>(bytes, 1)));
    if (!p) throw std::runtime_error("host allocation of " + std::to_string(bytes) + " bytes failed");
    return p;
  }
  void free_host(void* p) noexcept override { std::free(p); }
  bool host_pinned() const override { return false; }
  std::unique_ptr<StreamOps> make_stream_ops(int) override { return std::make_unique<CpuStreamOps>(); }
  MemoryMeter& meter() override { return meter_; }
  void cap_allocations(int64_t bytes) override { meter_.set_cap(bytes); }
  void copy_to_host_async(const at::Tensor& dst, const at::Tensor& src) override { dst.copy_(src); }
  void synchronize() override {}

 private:
  CpuMemoryMeter meter_;
};

}  // namespace

std::unique_ptr<DeviceBackend> make_cpu_backend(int64_t capacity_bytes) {
  return std::make_unique<CpuBackend>(capacity_bytes);
}

#ifdef FF_WITH_CUDA
std::unique_ptr<DeviceBackend> make_cuda_backend(int device_index);  // cuda_backend.cpp
bool cuda_device_present();                                          // cuda_backend.cpp
#endif

bool cuda_available() {
#ifdef FF_WITH_CUDA
  return cuda_device_present();
#else
  return false;
#endif
}

std::unique_ptr<DeviceBackend> make_backend(const std::string& device, int64_t cpu_capacity_bytes) {
  if (device == "cpu") return make_cpu_backend(cpu_capacity_bytes);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    int index = 0;
    if (device.size() > 5) {
      try {
        size_t used = 0;
        index = std::stoi(device.substr(5), &used);
        if (used != device.size() - 5 || index < 0) throw std::invalid_argument("");
      } catch (const std::exception&) {
        throw std::invalid_argument("bad device name '" + device + "' (expected cpu or cuda:N)");
      }
    }
#ifdef FF_WITH_CUDA
    return make_cuda_backend(index);
#else
    throw std::invalid_argument("device '" + device + "' asked for, but this build has no CUDA");
#endif
  }
  throw std::invalid_argument("bad device name '" + device + "' (expected cpu or cuda:N)");
}

}  // namespace ff::engine::rt
