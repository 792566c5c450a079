// The latent decoder with its levels in an rt::BlockStore (one block per level): one
// rt::BlockPass over the levels per decode; the store's resident prefix is used in place, the rest
// streams through the GPU slot ring. The latent statistics, conv_in and conv_out stay resident.
// The math is decode_latent's (decoder.hpp), so frames equal the resident decode bit for bit on a
// deterministic device.
#pragma once

#include <ATen/ATen.h>

#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/video/decoder.hpp"
#include "worker/engine/video/pass_observer.hpp"

namespace ff::video {

// Decodes latent [1, C, F, H, W] to frames [F', H', W', 3] uint8 on the CPU (as decode_latent).
// `globals` supplies the statistics, conv_in and conv_out (device tensors; its levels are not
// read); `store` holds one block per level of `c`, through a ring of `slots` GPU slots.
// `observer` (may be empty) gets the pass's copy figures. Throws std::invalid_argument when the
// store does not match the config. Engine thread.
at::Tensor streamed_decode_latent(const DecoderWeights& globals, const DecoderConfig& c,
                                  ff::engine::rt::BlockStore& store, const at::Tensor& latent, int slots,
                                  const PassObserver& observer);

}  // namespace ff::video
