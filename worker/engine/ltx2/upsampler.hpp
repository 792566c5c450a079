// LTX-2's spatial latent upsampler x2 (ltx-core LatentUpsampler, dims 3) and the wrapper the
// two-stage pipelines call between stage 1 and stage 2 (ltx-core upsample_video).
//
// Math (x [B, C, F, H, W], every conv k3 pad 1 with zero padding, GroupNorm(32 groups, eps 1e-5)):
//   x = silu(gn(conv3d(x, initial_conv)))
//   res_blocks: r = x; x = silu(gn2(conv2(silu(gn1(conv1(x)))))+ r)   (num_blocks_per_stage)
//   per frame: conv2d mid -> 4*mid, pixel shuffle 2  ->  [B, mid, F, 2H, 2W]
//   post_upsample_res_blocks (same), final_conv mid -> C.
// Computed in the dtype of the weights and of x (they must agree); no internal casts.
//
// Checkpoint names (unprefixed in the upsampler file):
//   initial_conv.{weight [mid, C, 3,3,3], bias}, initial_norm.{weight, bias} [mid]
//   res_blocks.N.{conv1,conv2}.{weight [mid, mid, 3,3,3], bias}, res_blocks.N.{norm1,norm2}.{weight,bias}
//   upsampler.0.{weight [4mid, mid, 3,3], bias}                       (rational_resampler false)
//   upsampler.conv.{weight, bias} + upsampler.blur_down.kernel [1,1,5,5] (rational_resampler true)
//   post_upsample_res_blocks.N.* (as res_blocks), final_conv.{weight [C, mid, 3,3,3], bias}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/stage_hooks.hpp"
#include "worker/engine/ltx2/upsampler_config.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

struct UpsamplerConv {
  at::Tensor weight, bias;
};
struct UpsamplerNorm {
  at::Tensor weight, bias;  // [channels]
};
struct UpsamplerResBlock {
  UpsamplerConv conv1, conv2;
  UpsamplerNorm norm1, norm2;
};

struct UpsamplerWeights {
  UpsamplerConv initial_conv;
  UpsamplerNorm initial_norm;
  std::vector<UpsamplerResBlock> res_blocks;
  UpsamplerConv upsample_conv;    // Conv2d mid -> 4 mid (either key variant)
  at::Tensor blur_kernel;  // rational variant only: loaded and checked, unused (stride 1)
  std::vector<UpsamplerResBlock> post_upsample_res_blocks;
  UpsamplerConv final_conv;
};

struct Upsampler {
  UpsamplerConfig config;
  UpsamplerWeights weights;
};

// Slots of `w` under names `prefix` + the file's names; resizes the block vectors first.
std::vector<layers::WeightSlot> upsampler_slots(UpsamplerWeights& w, const UpsamplerConfig& c,
                                               const std::string& prefix = "");

// Opens the upsampler file at `path`, decodes its metadata "config" and loads every tensor
// (checked names, shapes, floating dtype) cast to `dtype` on `device`. Throws io::CheckpointError
// (or std::invalid_argument for the config) naming the file and the key or tensor.
Upsampler load_upsampler(const std::string& path, at::Device device, at::ScalarType dtype);
// The weights of `config` from `file`, names under `prefix` (tests keep two variants in one file).
UpsamplerWeights load_upsampler_weights(const io::SafetensorsFile& file, const UpsamplerConfig& config,
                                        at::Device device, at::ScalarType dtype, const std::string& prefix = "");

// The forward's stages, for placement (stage_hooks.hpp): per stage, the name prefixes (under
// `prefix`) of the weights it reads: initial conv and norm, each res block, the x2 conv (either key
// variant, with the blur kernel), each post-upsample res block, the final conv.
std::vector<std::vector<std::string>> upsampler_stage_prefixes(const UpsamplerConfig& c, const std::string& prefix = "");

// The upsampler network alone: latent [B, in_channels, F, H, W] (not normalized: VAE latent
// space) -> [B, in_channels, F, 2H, 2W], in latent's dtype. `hooks` wrap each stage.
at::Tensor upsampler_forward(const at::Tensor& latent, const Upsampler& upsampler, const StageHooks& hooks = {});

// What the pipelines call on the stage-1 video latent (normalized, unpatchified
// [B, 128, F, H, W]): un-normalize with the VAE's per-channel statistics
// (vae.per_channel_statistics.{mean-of-means, std-of-means} [C], cast to latent's dtype),
// upsample, normalize again; the same ops and rounding points as ltx-core's upsample_video:
// x*std + mean, forward, (y - mean) / std. Result [B, C, F, 2H, 2W] in latent's dtype.
at::Tensor upsample_video_latent(const at::Tensor& latent, const Upsampler& upsampler,
                                 const at::Tensor& per_channel_mean, const at::Tensor& per_channel_std,
                                 const StageHooks& hooks = {});

}  // namespace ff::ltx2
