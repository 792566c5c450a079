// Video diffusion transformer math: pure functions over the weight structs of
// transformer_weights.hpp. No state, no placement: a caller (the resident path below, or the
// streaming runtime) decides where each block's weights live and calls block_forward per block.
//
// Shapes: B batch, N video tokens, D = inner_dim, T context rows, Dh head dim.
// Every function computes in the dtype of the weights it is given (norms in float32) and returns
// tensors on the device of its inputs.
#pragma once

#include <ATen/ATen.h>

#include "worker/engine/video/transformer_config.hpp"
#include "worker/engine/video/transformer_weights.hpp"

namespace ff::video {

// A latent volume's size and how many pixels/frames one latent element covers.
struct LatentGrid {
  int64_t frames = 1, height = 1, width = 1;  // latent dims (before patching)
  int64_t temporal_scale = 1;                 // output frames per latent frame
  int64_t spatial_scale = 1;                  // output pixels per latent pixel
};

// [B, C, F, H, W] -> [B, N, C*pt*p*p], tokens ordered (f, h, w). Throws std::invalid_argument if
// F, H, W are not multiples of the patch sizes.
at::Tensor patchify(const at::Tensor& latent, int64_t patch_t, int64_t patch);
// Inverse of patchify for a latent of `channels` x grid.frames x grid.height x grid.width.
at::Tensor unpatchify(const at::Tensor& tokens, int64_t channels, const LatentGrid& grid,
                      int64_t patch_t, int64_t patch);

// Rotary tables for 3D RoPE over the patch grid: head_dim is split into (t, h, w) parts, each
// rotated by its axis' pixel-space coordinate (normalised by positional_embedding_max_pos).
struct RopeTables {
  at::Tensor cos, sin;  // [N, Dh], rotate-half layout
};
RopeTables rope_tables(const TransformerConfig& c, const LatentGrid& grid, at::Device device,
                       at::ScalarType dtype);

// AdaLN-single: the shared timestep embedding and the 6-way modulation all blocks add to.
struct TimestepModulation {
  at::Tensor embedded;   // [B, D]
  at::Tensor block_mod;  // [B, 6, D]
};
// sigma: [B] float in [0, 1] (the flow-matching time), scaled by timestep_scale_multiplier.
TimestepModulation timestep_modulation(const TransformerGlobals& g, const TransformerConfig& c,
                                       const at::Tensor& sigma);

// Patch tokens [B, N, patch_dim] -> hidden [B, N, D].
at::Tensor embed_patches(const TransformerGlobals& g, const at::Tensor& tokens);

// One block: modulated self-attention with 3D RoPE, cross-attention to `context` [B, T, Cctx]
// (all rows attended), modulated gated MLP. Returns the new hidden [B, N, D].
at::Tensor block_forward(const TransformerBlockWeights& w, const TransformerConfig& c,
                         const at::Tensor& hidden, const at::Tensor& context,
                         const TimestepModulation& mod, const RopeTables& rope);

// Final modulated norm + projection: hidden [B, N, D] -> [B, N, patch_dim].
at::Tensor project_out(const TransformerGlobals& g, const TransformerConfig& c,
                       const at::Tensor& hidden, const TimestepModulation& mod);

// Resident reference path: velocity tokens [B, N, patch_dim] for patch tokens at time sigma.
at::Tensor transformer_forward(const TransformerWeights& w, const TransformerConfig& c,
                               const at::Tensor& tokens, const at::Tensor& context,
                               const at::Tensor& sigma, const RopeTables& rope);

// Multi-head attention over [B, H, Nq, Dh] x [B, H, Nk, Dh] (no mask), softmax scale 1/sqrt(Dh).
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v);

}  // namespace ff::video
