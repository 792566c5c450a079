// Named field list of one decoder level (the decoder's streamable block), so a level travels as
// rt::BlockTensors (host slab, GPU slot, resident prefix) and comes back as the
// DecoderLevelWeights that video::decoder_level takes. Names are the checkpoint names below
// "decoder.up_blocks.N." (e.g. "res.conv1.weight").
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/video/block_fields.hpp"
#include "worker/engine/video/decoder.hpp"

namespace ff::video {

// Every tensor field of `w` with its name, in decoder_slots order. The pointers point into `w`.
NamedFields decoder_level_fields(DecoderLevelWeights& w);

// The tensors of `w` as a block (shares storage with `w`; no copy). Any thread.
ff::engine::rt::BlockTensors decoder_level_tensors(const DecoderLevelWeights& w);

// The struct over the tensors of `b` (views; no copy), valid as long as `b`'s storage is.
DecoderLevelWeights decoder_level_from(const ff::engine::rt::BlockTensors& b);

// Copies `levels` once into one host slab (pinned on CUDA) of a new store named `component`, one
// block per level. The caller may drop `levels` afterwards. `backend` must outlive the store.
// Engine thread, at load.
std::unique_ptr<ff::engine::rt::BlockStore> make_decoder_level_store(const std::string& component,
                                                                     ff::engine::rt::DeviceBackend& backend,
                                                                     const std::vector<DecoderLevelWeights>& levels);

}  // namespace ff::video
