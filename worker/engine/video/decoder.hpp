// Latent decoder: latent [B, C, F, H, W] -> RGB frames, a small causal-in-time conv decoder.
//   x = latent * latents_std + latents_mean (per channel)
//   x = conv_in(x)                                     3x3x3, latent_channels -> ch[0]
//   per level i: x = x + res(x)                        two (pixel-norm, SiLU, 3x3x3 conv)
//                x = depth_to_space(up_i.conv(x))      -> ch_out * t * s * s, then (t, s, s)
//                  dropping the first t-1 frames (frames = 1 + t * (F - 1))
//   rgb = conv_out(silu(pixel_norm(x)))                -> 3 channels in [-1, 1]
// Tensor names (vae_decoder.safetensors, prefix "decoder."):
//   per_channel_statistics.{mean,std}, conv_in.{weight,bias}, up_blocks.N.res.conv{1,2}.*,
//   up_blocks.N.upsample.conv.*, conv_out.*
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/video/decoder_config.hpp"
#include "worker/engine/video/weight_spec.hpp"

namespace ff::video {

struct Conv3dWeights {
  at::Tensor weight;  // [out, in, 3, 3, 3]
  at::Tensor bias;    // [out]
};

struct DecoderLevelWeights {
  Conv3dWeights res_conv1, res_conv2, upsample;
};

struct DecoderWeights {
  at::Tensor latents_mean, latents_std;  // [C]
  Conv3dWeights conv_in;
  std::vector<DecoderLevelWeights> levels;
  Conv3dWeights conv_out;
};

// All slots of `w` (resizes levels to the config).
std::vector<WeightSlot> decoder_slots(DecoderWeights& w, const DecoderConfig& c);

// Decodes latent [1, C, F, H, W] to frames [F', H', W', 3] uint8 on the CPU, where
// F' = 1 + temporal_scale * (F - 1), H' = H * spatial_scale, W' = W * spatial_scale.
// The whole latent goes through at once (budgeting the largest activation is the caller's job).
// Equals decoder_output(decoder_level(... decoder_input(latent) ...)) over every level in order.
at::Tensor decode_latent(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& latent);

// The steps of decode_latent, so the levels can come from anywhere (resident or streamed); each
// reads only the weights it is given (`w.levels` is not used by input/output). Any thread.
// Checks the latent, applies the latent statistics and conv_in (on conv_in's device and dtype).
at::Tensor decoder_input(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& latent);
// Level `level` (residual block, upsampling conv, depth-to-space, causal frame drop) on x.
at::Tensor decoder_level(const DecoderLevelWeights& lw, const DecoderConfig& c, size_t level, const at::Tensor& x);
// conv_out, then frames [F', H', W', 3] uint8 on the CPU.
at::Tensor decoder_output(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& x);

}  // namespace ff::video
