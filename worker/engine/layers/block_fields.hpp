// Generic glue between a weight struct with a named field list (e.g. one transformer block, one
// decoder level) and rt::BlockTensors, the form a block takes in a host slab, a GPU slot or a
// resident prefix. `fields(W&)` returns (name, tensor pointer into the struct) pairs in a fixed
// order; undefined tensors (absent biases) are skipped both ways.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/runtime/block_layout.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::layers {

using NamedFields = std::vector<std::pair<std::string, at::Tensor*>>;

// The defined tensors of `w` as a block (shares storage with `w`'s tensors; no copy). Any thread.
template <class W, class Fields>
ff::engine::rt::BlockTensors block_tensors_of(const W& w, Fields fields) {
  W copy = w;  // shallow: tensors share storage
  ff::engine::rt::BlockTensors b;
  for (const auto& [name, t] : fields(copy))
    if (t->defined()) b.add(name, *t);
  return b;
}

// The struct over the tensors of `b` (views; no copy); fields absent from `b` stay undefined.
// Valid as long as `b`'s storage is (e.g. until BlockPass::release). Any thread.
template <class W, class Fields>
W struct_from_block(const ff::engine::rt::BlockTensors& b, Fields fields) {
  W w;
  for (auto& [name, t] : fields(w))
    if (b.has(name)) *t = b.get(name);
  return w;
}

// Copies `blocks` once into one host slab (pinned on CUDA) of a new store named `component`.
// The caller may drop the source tensors afterwards. `backend` must outlive the store.
// Engine thread, at load.
std::unique_ptr<ff::engine::rt::BlockStore> make_block_store(const std::string& component,
                                                             ff::engine::rt::DeviceBackend& backend,
                                                             const std::vector<ff::engine::rt::BlockTensors>& blocks);

}  // namespace ff::layers
