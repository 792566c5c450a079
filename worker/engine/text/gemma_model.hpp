// The Gemma-3 text model as pure functions over weight structs (HF Gemma3TextModel semantics):
//   embedding lookup x sqrt(hidden) (scale cast to the weight dtype first),
//   per layer: x + post_attn_norm(attn(input_norm(x))), then x + post_ff_norm(mlp(pre_ff_norm(x))),
//   RMSNorm in fp32 as x * rsqrt(mean(x^2) + eps) * (1 + w), q/k norms over head_dim before RoPE,
//   GQA, attention scale query_pre_attn_scalar^-0.5, rotate-half RoPE over all of head_dim with
//   separate tables for sliding (local) and full (global) layers, gelu-tanh gated MLP.
// Masks are built from position ids, so the same functions serve the padded reference path
// (positions 0..T-1 over a left-padded row) and packed rows holding only real tokens (positions
// of those tokens in the padded row): key k is visible to query q iff k is a real token,
// pos_k <= pos_q and, on sliding layers, pos_q - pos_k < sliding_window. A query always sees
// itself, so pad rows stay finite (their values are meaningless and must be ignored).
// Attention: with libtorch >= 2.1 at::scaled_dot_product_attention (boolean mask; from 2.5 with
// native GQA, no repeated k/v); older libtorch (Debian's 1.13) runs HF's eager formulation
// (scores scaled in the compute dtype, softmax in fp32).
// All functions are stateless and may run on any thread/device; inputs are not modified.
#pragma once

#include <ATen/ATen.h>

#include <vector>

#include "worker/engine/text/gemma_weights.hpp"

namespace ff::text {

// cos/sin tables [B, T, head_dim] in the compute dtype (HF: cat(freqs, freqs)).
struct RotaryTables {
  at::Tensor cos;
  at::Tensor sin;
};

// The two tables every layer picks from by its type.
struct GemmaRope {
  RotaryTables local;   // sliding layers
  RotaryTables global;  // full-attention layers
  const RotaryTables& for_layer(const GemmaConfig& c, int64_t layer) const {
    return c.layer_is_sliding.at(layer) ? local : global;
  }
};

// Boolean "may attend" masks [B, 1, T, T] (true = visible), one per layer type.
struct GemmaMask {
  at::Tensor local;
  at::Tensor global;
  const at::Tensor& for_layer(const GemmaConfig& c, int64_t layer) const {
    return c.layer_is_sliding.at(layer) ? local : global;
  }
};

// RoPE tables for position_ids [B, T] (int64), computed in fp32 and cast to dtype, on the
// device of position_ids.
GemmaRope gemma_rope(const GemmaConfig& c, const at::Tensor& position_ids, at::ScalarType dtype);
// Masks from position_ids [B, T] and key_valid [B, T] (bool or 0/1 ints; 1 = real token).
GemmaMask gemma_mask(const GemmaConfig& c, const at::Tensor& position_ids, const at::Tensor& key_valid);

// Gemma's RMSNorm: computed in fp32, result in x's dtype.
at::Tensor gemma_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);
// Embedding rows for input_ids [B, T] times sqrt(hidden) (cast to the table's dtype), in the
// table's dtype, on the table's device. Out-of-range ids throw std::invalid_argument.
// = gemma_scale_embeddings(gemma_gather(...)).
at::Tensor gemma_embed(const at::Tensor& embed_tokens, const at::Tensor& input_ids, const GemmaConfig& c);
// The unscaled rows [B, T, hidden] on the table's device; in page-locked host memory when
// `pinned_out` (the table on the host), ready for an asynchronous copy. Bad ids as gemma_embed.
at::Tensor gemma_gather(const at::Tensor& embed_tokens, const at::Tensor& input_ids, bool pinned_out = false);
// rows x sqrt(hidden), the scale cast to the rows' dtype first (HF), on the rows' device.
at::Tensor gemma_scale_embeddings(const at::Tensor& rows, const GemmaConfig& c);
// One decoder layer: hidden [B, T, hidden] (dtype of the weights) -> new hidden.
at::Tensor gemma_layer_forward(const GemmaLayerWeights& w, const at::Tensor& hidden, int64_t layer_index,
                               const GemmaRope& rope, const GemmaMask& mask, const GemmaConfig& c);
// Final norm on the last layer's output.
at::Tensor gemma_final_norm(const at::Tensor& norm_weight, const at::Tensor& hidden, const GemmaConfig& c);

// Position ids 0..T-1 for every row of a padded [B, T] batch.
at::Tensor padded_position_ids(int64_t batch, int64_t seq, at::Device device);

// The resident padded reference path: input_ids and attention_mask [B, T] (left padding), all
// num_hidden_layers + 1 hidden states: [0] scaled embedding, [1..n-1] raw layer outputs, [n] the
// final norm of the last layer's output. Runs on the weights' device.
std::vector<at::Tensor> gemma_hidden_states(const GemmaWeights& w, const at::Tensor& input_ids,
                                            const at::Tensor& attention_mask, const GemmaConfig& c);

}  // namespace ff::text
