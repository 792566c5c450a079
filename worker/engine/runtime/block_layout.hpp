// One streamable block's tensors, and how they are packed into one contiguous byte range.
// A block is the unit that travels host -> GPU in one copy (e.g. one Gemma decoder layer plus the
// feature extractor's slice for that layer). Every tensor starts at a 256-byte aligned offset.
#pragma once

#include <ATen/ATen.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ff::engine::rt {

inline constexpr size_t kBlockAlignBytes = 256;

// Rounds n up to a multiple of `align` (a power of two).
constexpr size_t align_up(size_t n, size_t align = kBlockAlignBytes) {
  return (n + align - 1) & ~(align - 1);
}

// Named tensors of one block, in a fixed order. Views share storage with whatever buffer they
// were made from (host slab, GPU slot, resident copy): the owner of that buffer keeps it alive.
class BlockTensors {
 public:
  // Appends a tensor; names must be unique within a block (throws std::invalid_argument).
  void add(std::string name, at::Tensor t);
  // The tensor called `name`; throws std::out_of_range naming it when absent.
  const at::Tensor& get(std::string_view name) const;
  bool has(std::string_view name) const;
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<std::string, at::Tensor>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, at::Tensor>> items_;
};

// Where one tensor lives inside its block's byte range.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  at::ScalarType dtype = at::kBFloat16;
  size_t offset_bytes = 0;
  size_t nbytes = 0;
};

// Packing of one block: tensor specs in order, each at a 256-B aligned offset.
class BlockLayout {
 public:
  BlockLayout() = default;
  // The layout of these tensors (shapes and dtypes only; data is not read).
  static BlockLayout of(const BlockTensors& tensors);
  // Total bytes, a multiple of 256.
  size_t bytes() const { return bytes_; }
  const std::vector<TensorSpec>& specs() const { return specs_; }
  // Copies `src` (same names/shapes/dtypes as this layout, any device) into the host range at
  // dst (bytes() long). Throws std::invalid_argument naming a mismatching tensor.
  void pack(const BlockTensors& src, uint8_t* dst) const;
  // Views of the tensors inside the buffer at `base` (bytes() long) on `device`. No copy.
  BlockTensors views(void* base, at::Device device) const;

 private:
  std::vector<TensorSpec> specs_;
  size_t bytes_ = 0;
};

}  // namespace ff::engine::rt
