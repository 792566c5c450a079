// The video VAE decoder ("vae_decoder") under its placement. Its per-channel statistics, conv_in
// and conv_out stay on the device; its blocks (the decoder's stages) are a PlacedBlocks: resident,
// stream (one pinned host slab, each forward streams them through a 3-slot GPU ring; with tiling,
// each tile's forward does) or auto (the longest prefix that fits resident, planned per job).
// Streamed and resident decodes give the same frames bit for bit (tests/worker/engine/app). Engine thread only.
#pragma once

#include <memory>
#include <optional>

#include <ATen/ATen.h>

#include "common/protocol.hpp"
#include "worker/engine/app/placed_blocks.hpp"
#include "worker/engine/ltx2/video_decoder.hpp"

namespace ff::engine {

class PlacedVideoDecoder {
 public:
  // `weights`: host tensors for stream/auto (the blocks are copied into the store), device tensors
  // for resident. The fixed weights are moved to the device. `backend` must outlive this.
  PlacedVideoDecoder(const ltx2::VideoDecoderConfig& config, ltx2::VideoDecoderWeights weights, rt::Placement mode,
                     rt::DeviceBackend& backend, PlanLimits limits);

  // Plans the next decode for `working` activation bytes; throws rt::VramBudgetError when it
  // cannot fit even streamed.
  void plan(int64_t working) { blocks_->plan(working, 0); }
  // uint8 RGB frames [F', H', W', 3] on the CPU for a latent [1, C, F, H, W] (decode dtype),
  // untiled or in ltx-core's tiles.
  at::Tensor decode_to_uint8(const at::Tensor& latent, const std::optional<ltx2::VideoTilingConfig>& tiling);

  const ltx2::VideoDecoderConfig& config() const { return config_; }
  // The VAE's per-channel statistics on the device (the upsampler un-normalizes with them).
  const at::Tensor& mean_of_means() const { return fixed_.mean_of_means; }
  const at::Tensor& std_of_means() const { return fixed_.std_of_means; }
  proto::ComponentStats stats() const { return blocks_->stats(); }

 private:
  at::Tensor forward(const at::Tensor& latent);

  ltx2::VideoDecoderConfig config_;
  rt::DeviceBackend& be_;
  ltx2::VideoDecoderWeights fixed_;  // statistics, conv_in, conv_out (blocks empty), on the device
  std::unique_ptr<PlacedBlocks> blocks_;
};

}  // namespace ff::engine
