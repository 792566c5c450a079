#include "worker/engine/runtime/block_layout.hpp"

#include <stdexcept>

namespace ff::engine::rt {

void BlockTensors::add(std::string name, at::Tensor t) {
  if (has(name)) throw std::invalid_argument("block tensor added twice: " + name);
  items_.emplace_back(std::move(name), std::move(t));
}

const at::Tensor& BlockTensors::get(std::string_view name) const {
  for (const auto& [n, t] : items_)
    if (n == name) return t;
  throw std::out_of_range("block has no tensor named '" + std::string(name) + "'");
}

bool BlockTensors::has(std::string_view name) const {
  for (const auto& item : items_)
    if (item.first == name) return true;
  return false;
}

BlockLayout BlockLayout::of(const BlockTensors& tensors) {
  BlockLayout layout;
  size_t offset = 0;
  for (const auto& [name, t] : tensors.items()) {
    TensorSpec spec;
    spec.name = name;
    spec.shape = t.sizes().vec();
    spec.dtype = t.scalar_type();
    spec.nbytes = static_cast<size_t>(t.numel()) * t.element_size();
    spec.offset_bytes = offset;
    offset = align_up(offset + spec.nbytes);
    layout.specs_.push_back(std::move(spec));
  }
  layout.bytes_ = offset;
  return layout;
}

void BlockLayout::pack(const BlockTensors& src, uint8_t* dst) const {
  if (src.size() != specs_.size())
    throw std::invalid_argument("block has " + std::to_string(src.size()) + " tensors, layout " +
                                std::to_string(specs_.size()));
  for (const auto& spec : specs_) {
    const at::Tensor& t = src.get(spec.name);
    if (t.sizes().vec() != spec.shape || t.scalar_type() != spec.dtype)
      throw std::invalid_argument("block tensor '" + spec.name + "' does not match the layout");
    at::Tensor out = at::from_blob(dst + spec.offset_bytes, spec.shape,
                                   at::TensorOptions().dtype(spec.dtype).device(at::kCPU));
    out.copy_(t);
  }
}

BlockTensors BlockLayout::views(void* base, at::Device device) const {
  BlockTensors out;
  auto* bytes = static_cast<uint8_t*>(base);
  for (const auto& spec : specs_)
    out.add(spec.name, at::from_blob(bytes + spec.offset_bytes, spec.shape,
                                     at::TensorOptions().dtype(spec.dtype).device(device)));
  return out;
}

}  // namespace ff::engine::rt
