// Weights of a video diffusion transformer as plain structs of tensors. The math in
// transformer.hpp takes them by const reference, so the same code runs on resident weights or on
// a block copied into a GPU slot by the streaming runtime.
//
// Checkpoint names (prefix is "model.diffusion_model." in ltx.safetensors / stage2.safetensors):
//   patchify_proj.{weight,bias}                          [D, patch_dim], [D]
//   adaln_single.emb.timestep_embedder.linear_{1,2}.*    [D, E] / [D, D]
//   adaln_single.linear.{weight,bias}                    [6D, D]
//   scale_shift_table                                    [2, D]   (final shift/scale)
//   proj_out.{weight,bias}                               [patch_dim, D]
//   transformer_blocks.N.scale_shift_table               [6, D]
//   transformer_blocks.N.attn{1,2}.to_{q,k,v}.*, to_out.0.*, q_norm.weight, k_norm.weight
//   transformer_blocks.N.ff.{gate_proj,up_proj,down_proj}.weight
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/video/transformer_config.hpp"
#include "worker/engine/video/weight_spec.hpp"

namespace ff::video {

struct LinearWeights {
  at::Tensor weight;  // [out, in]
  at::Tensor bias;    // [out] or undefined
};

struct AttentionWeights {
  LinearWeights to_q, to_k, to_v, to_out;
  at::Tensor q_norm;  // [D] RMSNorm weight over the full inner dim
  at::Tensor k_norm;  // [D]
};

// One transformer block: the unit the streaming runtime places or copies.
struct TransformerBlockWeights {
  at::Tensor scale_shift_table;  // [6, D]: shift/scale/gate for attention, shift/scale/gate for MLP
  AttentionWeights attn1;        // self-attention over video tokens
  AttentionWeights attn2;        // cross-attention to the video context
  LinearWeights ff_gate, ff_up, ff_down;  // gated MLP: down(silu(gate(x)) * up(x))
};

// Everything outside the blocks (small; always resident).
struct TransformerGlobals {
  LinearWeights patchify_proj;
  LinearWeights time_linear_1, time_linear_2;  // timestep embedder MLP
  LinearWeights adaln;                          // shared AdaLN-single projection to 6D
  at::Tensor scale_shift_table;                 // [2, D]
  LinearWeights proj_out;
};

struct TransformerWeights {
  TransformerGlobals globals;
  std::vector<TransformerBlockWeights> blocks;
};

// Slots of the globals (names under `prefix`).
std::vector<WeightSlot> global_slots(TransformerGlobals& g, const TransformerConfig& c,
                                     const std::string& prefix);
// Slots of block `index`.
std::vector<WeightSlot> block_slots(TransformerBlockWeights& b, const TransformerConfig& c,
                                    const std::string& prefix, int64_t index);
// All slots of `w`; resizes w.blocks to c.num_layers first.
std::vector<WeightSlot> transformer_slots(TransformerWeights& w, const TransformerConfig& c,
                                          const std::string& prefix);

}  // namespace ff::video
