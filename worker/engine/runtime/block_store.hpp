// One component's streamable blocks: a single host slab (pinned on CUDA, one allocation at load,
// blocks carved out at 256-B aligned offsets) plus device copies of a leading prefix of blocks
// (the resident part of the current placement plan). Nothing is re-read from disk per request.
#pragma once

#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <vector>

#include "worker/engine/runtime/block_layout.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::engine::rt {

class BlockStore {
 public:
  // Allocates the slab for these layouts (one host allocation). Engine thread, at load.
  // `backend` must outlive the store.
  BlockStore(std::string component, DeviceBackend& backend, std::vector<BlockLayout> layouts);
  ~BlockStore();
  BlockStore(const BlockStore&) = delete;
  BlockStore& operator=(const BlockStore&) = delete;

  // Copies block i's tensors (any device) into the slab. Engine thread, at load.
  void fill(int i, const BlockTensors& tensors);
  // Views of block i inside the host slab (CPU tensors; pinned on CUDA builds).
  BlockTensors host_views(int i) const;
  const uint8_t* host_data(int i) const { return slab_ + offsets_[i]; }

  const std::string& component() const { return component_; }
  int size() const { return static_cast<int>(layouts_.size()); }
  const BlockLayout& layout(int i) const { return layouts_[i]; }
  int64_t block_bytes(int i) const { return static_cast<int64_t>(layouts_[i].bytes()); }
  std::vector<int64_t> all_block_bytes() const;
  int64_t pinned_bytes() const { return backend_.host_pinned() ? static_cast<int64_t>(slab_bytes_) : 0; }
  int64_t host_bytes() const { return static_cast<int64_t>(slab_bytes_); }
  DeviceBackend& backend() const { return backend_; }

  // Keeps exactly blocks [0, n) on the device: uploads the missing ones (a blocking copy on the
  // compute stream), frees the rest. May throw an out-of-memory error; then the prefix is
  // whatever was reached. Engine thread.
  void set_resident_prefix(int n);
  int resident_prefix() const { return static_cast<int>(resident_views_.size()); }
  int64_t resident_bytes() const;
  const BlockTensors& resident_views(int i) const { return resident_views_[i]; }

 private:
  std::string component_;
  DeviceBackend& backend_;
  std::vector<BlockLayout> layouts_;
  std::vector<size_t> offsets_;
  uint8_t* slab_ = nullptr;
  size_t slab_bytes_ = 0;
  std::vector<at::Tensor> resident_bufs_;       // device uint8 buffers, one per resident block
  std::vector<BlockTensors> resident_views_;    // views into them
};

}  // namespace ff::engine::rt
