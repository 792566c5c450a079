// Gemma-3 text model weights as plain structs of tensors. The model functions (gemma_model.hpp)
// take these by const reference, so the same math runs on resident weights or on a streamed GPU
// slot: whoever owns the memory fills a GemmaLayerWeights with tensors (views) on the right
// device and passes it in. Tensor layouts are exactly HF's (nn.Linear weight = [out, in]).
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/io/gemma_config.hpp"

namespace ff::text {

using io::GemmaConfig;

// One decoder layer ("layers.N." in HF names; member = the name suffix with '.' -> '_').
struct GemmaLayerWeights {
  at::Tensor input_layernorm;             // [hidden]
  at::Tensor q_proj;                      // [heads*head_dim, hidden]
  at::Tensor k_proj;                      // [kv_heads*head_dim, hidden]
  at::Tensor v_proj;                      // [kv_heads*head_dim, hidden]
  at::Tensor o_proj;                      // [hidden, heads*head_dim]
  at::Tensor q_norm;                      // [head_dim]
  at::Tensor k_norm;                      // [head_dim]
  at::Tensor post_attention_layernorm;    // [hidden]
  at::Tensor pre_feedforward_layernorm;   // [hidden]
  at::Tensor gate_proj;                   // [intermediate, hidden]
  at::Tensor up_proj;                     // [intermediate, hidden]
  at::Tensor down_proj;                   // [hidden, intermediate]
  at::Tensor post_feedforward_layernorm;  // [hidden]

  // (HF name suffix after "layers.N.", member) pairs in a fixed order, for loaders, slab packers
  // and writers.
  std::vector<std::pair<std::string, at::Tensor*>> named();
  std::vector<std::pair<std::string, const at::Tensor*>> named() const;
  // A copy with every tensor moved/cast (non_blocking copies allowed from pinned memory).
  GemmaLayerWeights to(at::Device device, at::ScalarType dtype, bool non_blocking = false) const;
  // Total bytes of the tensors.
  int64_t nbytes() const;
};

// The HF name suffixes and shapes of one layer's tensors under config, in named() order.
std::vector<std::pair<std::string, std::vector<int64_t>>> gemma_layer_shapes(const GemmaConfig& c);

struct GemmaWeights {
  at::Tensor embed_tokens;  // [vocab, hidden]
  std::vector<GemmaLayerWeights> layers;
  at::Tensor norm;          // [hidden] final norm
};

// A copy of all weights moved/cast to device and dtype.
GemmaWeights to(const GemmaWeights& w, at::Device device, at::ScalarType dtype);

// The prefix under which ck stores the text model: one of "model.language_model.",
// "language_model.model.", "model.", "" (found by looking for "<prefix>embed_tokens.weight").
// Throws CheckpointError when none matches.
std::string gemma_weight_prefix(const io::Checkpoint& ck);

// Layer `layer` as zero-copy CPU views over the checkpoint mapping, after checking every name,
// shape and that the dtype equals `dtype` (F32, F16 or BF16). Throws CheckpointError naming
// file and tensor. Vision tower, projector and lm_head tensors are never touched.
GemmaLayerWeights load_gemma_layer(const io::Checkpoint& ck, const std::string& prefix, const GemmaConfig& c,
                                   int64_t layer, at::ScalarType dtype);
// All weights (views), dtype taken from embed_tokens, which must be F32, F16 or BF16.
GemmaWeights load_gemma_weights(const io::Checkpoint& ck, const GemmaConfig& c);

}  // namespace ff::text
