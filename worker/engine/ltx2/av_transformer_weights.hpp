// Weights of LTX-2.3's audio-video transformer (ltx-core LTXModel) as plain structs of tensors.
// The math (av_transformer.hpp) takes them by const reference, so the same code runs on resident
// weights, on a block copied into a GPU slot by the streaming runtime, or on LoRA-carrying Linears.
//
// Names are ltx-core's LTXModel state_dict names; the published single file stores them under
// "model.diffusion_model." (the slot functions take that prefix). The embeddings connectors
// (video_/audio_embeddings_connector.*) are NOT part of this struct: the text side owns them.
// Globals:
//   patchify_proj, audio_patchify_proj                       Linear in -> D (biased)
//   {,audio_}adaln_single.{emb.timestep_embedder.linear_{1,2},linear}     9D (6D without cross_attention_adaln)
//   {,audio_}prompt_adaln_single.*                           2D (only with cross_attention_adaln)
//   av_ca_{video,audio}_scale_shift_adaln_single.*           4D
//   av_ca_{a2v,v2a}_gate_adaln_single.*                      1D (a2v: video width, v2a: audio width)
//   {,audio_}scale_shift_table [2, D]; {,audio_}proj_out Linear D -> out
// Block N ("transformer_blocks.N."):
//   scale_shift_table [9, D], audio_scale_shift_table [9, Da],
//   scale_shift_table_a2v_ca_video [5, D], scale_shift_table_a2v_ca_audio [5, Da],
//   prompt_scale_shift_table [2, D], audio_prompt_scale_shift_table [2, Da] (cross_attention_adaln),
//   attn1, attn2, audio_attn1, audio_attn2, audio_to_video_attn, video_to_audio_attn:
//     to_q, to_k, to_v, to_out.0 (biased), q_norm.weight, k_norm.weight [inner],
//     to_gate_logits (Linear query_dim -> heads, only with apply_gated_attention)
//   ff.net.0.proj (D -> 4D), ff.net.2 (4D -> D); audio_ff likewise (biases per ff_bias).
// Dtypes: whatever the file stores (bf16, the F32 *scale_shift_table* tensors, fp8 ...); the
// math casts to the compute dtype at use.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/layers/layers.hpp"
#include "worker/engine/ltx2/av_transformer_config.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

inline constexpr int64_t kTimestepChannels = 256;  // sinusoid width of ltx-core's Timesteps

// ltx-core Attention: q/k RMSNorm weights over the whole inner dim; gate logits optional.
struct AVAttentionWeights {
  ff::layers::Linear to_q, to_k, to_v, to_out;  // to_out is stored as "to_out.0"
  ff::layers::Linear to_gate_logits;            // [heads, query_dim]; undefined without gating
  at::Tensor q_norm, k_norm;                    // [inner]
};

// ltx-core FeedForward: net.0.proj (GELU-tanh after it), net.2.
struct AVFeedForwardWeights {
  ff::layers::Linear proj_in;   // "net.0.proj"
  ff::layers::Linear proj_out;  // "net.2"
};

// ltx-core AdaLayerNormSingle: emb.timestep_embedder.linear_{1,2} (256 -> D -> D), linear (D -> coef*D).
struct AdaLNSingleWeights {
  ff::layers::Linear linear_1, linear_2, linear;
};

// One transformer block: the unit that placement/streaming moves.
struct AVBlockWeights {
  at::Tensor scale_shift_table;                // [coef, D]
  at::Tensor audio_scale_shift_table;          // [coef, Da]
  at::Tensor scale_shift_table_a2v_ca_video;   // [5, D]
  at::Tensor scale_shift_table_a2v_ca_audio;   // [5, Da]
  at::Tensor prompt_scale_shift_table;         // [2, D] (cross_attention_adaln) or undefined
  at::Tensor audio_prompt_scale_shift_table;   // [2, Da] or undefined
  AVAttentionWeights attn1, attn2;             // video self / video text cross
  AVAttentionWeights audio_attn1, audio_attn2; // audio self / audio text cross
  AVAttentionWeights audio_to_video_attn;      // Q video, K/V audio (audio heads x head dim)
  AVAttentionWeights video_to_audio_attn;      // Q audio, K/V video
  AVFeedForwardWeights ff, audio_ff;
};

// Everything outside the blocks (small; always resident).
struct AVGlobals {
  ff::layers::Linear patchify_proj, audio_patchify_proj;
  AdaLNSingleWeights adaln_single, audio_adaln_single;
  AdaLNSingleWeights prompt_adaln_single, audio_prompt_adaln_single;  // undefined without prompt AdaLN
  AdaLNSingleWeights av_ca_video_scale_shift_adaln_single, av_ca_audio_scale_shift_adaln_single;
  AdaLNSingleWeights av_ca_a2v_gate_adaln_single, av_ca_v2a_gate_adaln_single;
  at::Tensor scale_shift_table;        // [2, D]  output (shift, scale)
  at::Tensor audio_scale_shift_table;  // [2, Da]
  ff::layers::Linear proj_out, audio_proj_out;
};

struct AVTransformerWeights {
  AVGlobals globals;
  std::vector<AVBlockWeights> blocks;
};

// Slots of the globals, names under `prefix` (e.g. "model.diffusion_model.").
std::vector<ff::layers::WeightSlot> av_global_slots(AVGlobals& g, const AVTransformerConfig& c,
                                                   const std::string& prefix);
// Slots of block `index` ("<prefix>transformer_blocks.<index>.*").
std::vector<ff::layers::WeightSlot> av_block_slots(AVBlockWeights& b, const AVTransformerConfig& c,
                                                  const std::string& prefix, int64_t index);
// Every stored tensor of the transformer (globals, then blocks in order); resizes w.blocks to
// c.num_layers first. The name set equals ltx-core's LTXModel state_dict for this config minus
// the embeddings connectors.
std::vector<ff::layers::WeightSlot> av_transformer_slots(AVTransformerWeights& w,
                                                        const AVTransformerConfig& c,
                                                        const std::string& prefix);

// Every Linear with its name without prefix and without ".weight" (e.g.
// "transformer_blocks.3.attn1.to_q", "transformer_blocks.3.attn1.to_out.0", "patchify_proj",
// "adaln_single.emb.timestep_embedder.linear_1"), globals then blocks, only those the config has.
// Pointers point into `w` (resize w.blocks first, e.g. via av_transformer_slots).
std::vector<std::pair<std::string, ff::layers::Linear*>> av_transformer_linears(AVTransformerWeights& w,
                                                                                const AVTransformerConfig& c);
// The Linears of one block, names below "transformer_blocks.N." (e.g. "attn1.to_q").
std::vector<std::pair<std::string, ff::layers::Linear*>> av_block_linears(AVBlockWeights& b);

// Every tensor field of a block with its stored name below "transformer_blocks.N."
// (e.g. "attn1.to_q.weight"), in av_block_slots order, including fields the config leaves
// undefined (block_tensors_of skips them). LoRA factors of the Linears are not listed.
using NamedFields = std::vector<std::pair<std::string, at::Tensor*>>;
NamedFields av_block_fields(AVBlockWeights& b);

// Loads every slot from `file` (names under `prefix`, e.g. "model.diffusion_model.") onto
// `device`. `dtype`: every tensor is cast to it (kFloat for parity runs; kBFloat16 is what
// ltx-core's loader does, rounding the F32 tables); nullopt keeps the stored dtypes (the math
// casts at use). Throws ff::io::CheckpointError naming the file and the tensor when one is
// missing, mis-shaped or not floating point.
AVTransformerWeights load_av_transformer(const ff::io::SafetensorsFile& file, const AVTransformerConfig& c,
                                         const std::string& prefix, at::Device device,
                                         std::optional<at::ScalarType> dtype);

}  // namespace ff::ltx2
