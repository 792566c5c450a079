#include "worker/engine/layers/block_fields.hpp"

namespace ff::layers {

namespace rt = ff::engine::rt;

std::unique_ptr<rt::BlockStore> make_block_store(const std::string& component, rt::DeviceBackend& backend,
                                                 const std::vector<rt::BlockTensors>& blocks) {
  std::vector<rt::BlockLayout> layouts;
  layouts.reserve(blocks.size());
  for (const auto& b : blocks) layouts.push_back(rt::BlockLayout::of(b));
  auto store = std::make_unique<rt::BlockStore>(component, backend, std::move(layouts));
  for (size_t i = 0; i < blocks.size(); ++i) store->fill(static_cast<int>(i), blocks[i]);
  return store;
}

}  // namespace ff::layers
