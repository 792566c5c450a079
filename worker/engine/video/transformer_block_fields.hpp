// Named field list of one video transformer block, so a block travels as rt::BlockTensors (host
// slab, GPU slot, resident prefix) and comes back as the TransformerBlockWeights the math takes.
// Names are the checkpoint names below "transformer_blocks.N." (e.g. "attn1.to_q.weight").
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/runtime/block_layout.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/video/transformer_weights.hpp"

namespace ff::video {

// Every tensor field of `w` with its name, in block_slots order (biases included even when
// undefined). The pointers point into `w`.
std::vector<std::pair<std::string, at::Tensor*>> transformer_block_fields(TransformerBlockWeights& w);

// The defined tensors of `w` as a block (shares storage with `w`'s tensors; no copy).
ff::engine::rt::BlockTensors transformer_block_tensors(const TransformerBlockWeights& w);

// The struct over the tensors of `b` (views; no copy). Fields absent from `b` stay undefined.
// The result is valid as long as `b`'s storage is (e.g. until BlockPass::release).
TransformerBlockWeights transformer_block_from(const ff::engine::rt::BlockTensors& b);

// Copies `blocks` once into one host slab (pinned on CUDA) of a new store named `component`.
// The caller may drop `blocks` afterwards. `backend` must outlive the store. Engine thread, at load.
std::unique_ptr<ff::engine::rt::BlockStore> make_transformer_block_store(
    const std::string& component, ff::engine::rt::DeviceBackend& backend,
    const std::vector<TransformerBlockWeights>& blocks);

}  // namespace ff::video
