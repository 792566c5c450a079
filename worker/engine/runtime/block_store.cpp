#include "worker/engine/runtime/block_store.hpp"

#include <stdexcept>

namespace ff::engine::rt {

BlockStore::BlockStore(std::string component, DeviceBackend& backend, std::vector<BlockLayout> layouts)
    : component_(std::move(component)), backend_(backend), layouts_(std::move(layouts)) {
  size_t offset = 0;
  for (const auto& l : layouts_) {
    offsets_.push_back(offset);
    offset = align_up(offset + l.bytes());
  }
  slab_bytes_ = offset;
  slab_ = static_cast<uint8_t*>(backend_.alloc_host(slab_bytes_));
}

BlockStore::~BlockStore() {
  set_resident_prefix(0);
  backend_.free_host(slab_);
}

void BlockStore::fill(int i, const BlockTensors& tensors) {
  if (i < 0 || i >= size())
    throw std::out_of_range(component_ + ": block " + std::to_string(i) + " out of range");
  layouts_[i].pack(tensors, slab_ + offsets_[i]);
}

BlockTensors BlockStore::host_views(int i) const {
  return layouts_[i].views(slab_ + offsets_[i], at::kCPU);
}

std::vector<int64_t> BlockStore::all_block_bytes() const {
  std::vector<int64_t> out;
  for (int i = 0; i < size(); ++i) out.push_back(block_bytes(i));
  return out;
}

int64_t BlockStore::resident_bytes() const {
  int64_t total = 0;
  for (int i = 0; i < resident_prefix(); ++i) total += block_bytes(i);
  return total;
}

void BlockStore::set_resident_prefix(int n) {
  if (n < 0 || n > size())
    throw std::out_of_range(component_ + ": resident prefix " + std::to_string(n) + " of " +
                            std::to_string(size()) + " blocks");
  while (resident_prefix() > n) {
    const int i = resident_prefix() - 1;
    resident_views_.pop_back();
    resident_bufs_.pop_back();
    backend_.meter().release(block_bytes(i));
  }
  const at::Device dev = backend_.device();
  while (resident_prefix() < n) {
    const int i = resident_prefix();
    backend_.meter().charge(block_bytes(i));
    try {
      at::Tensor buf = at::empty({block_bytes(i)}, at::TensorOptions().dtype(at::kByte).device(dev));
      at::Tensor src = at::from_blob(slab_ + offsets_[i], {block_bytes(i)}, at::TensorOptions().dtype(at::kByte));
      buf.copy_(src);
      resident_views_.push_back(layouts_[i].views(buf.data_ptr(), dev));
      resident_bufs_.push_back(std::move(buf));
    } catch (...) {
      backend_.meter().release(block_bytes(i));
      throw;
    }
  }
}

}  // namespace ff::engine::rt
