// The velocity of a stage transformer whose blocks live in an rt::BlockStore: every evaluation
// (one denoising step, one guidance branch) is one rt::BlockPass over the blocks in order; the
// store's resident prefix is used in place, the rest streams through the GPU slot ring. The math
// is the resident path's (transformer.hpp), so results equal resident_velocity bit for bit on a
// deterministic device.
#pragma once

#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/video/pass_observer.hpp"
#include "worker/engine/video/sampler.hpp"

namespace ff::video {

// A velocity for latents of `grid`: globals (device tensors) stay resident, blocks come from
// `store` through a ring of `slots` GPU slots. References: `config`, `globals` and `store` must
// outlive the returned function (the caller owns them). Engine thread.
VelocityFn streamed_velocity(const TransformerConfig& config, const TransformerGlobals& globals,
                             ff::engine::rt::BlockStore& store, const LatentGrid& grid, int slots,
                             PassObserver observer);

}  // namespace ff::video
