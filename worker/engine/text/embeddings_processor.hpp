// LTX-2.3's embeddings processor as pure functions over weight structs:
//
// Feature extractor (ltx-core FeatureExtractorV2): for every token and each of the L = layers+1
// Gemma hidden states, RMS-normalise over the hidden dim D (no weight, eps 1e-6), zero pad
// tokens, flatten to D*L with the layer index fastest, scale by sqrt(out/D) and apply
// Linear(D*L -> out, bias) for video (out = video_dim) and audio (out = audio_dim).
// Because the flattening interleaves layers, the Linear splits into per-layer [out, D] blocks:
//   features = bias + sum_l sqrt(out/D) * rmsnorm(h_l) @ W_l^T
// so feature_accumulate_layer() folds one layer into fp32 accumulators as soon as that layer's
// hidden state exists (the streamed encoder never holds all 49 hidden states).
//
// Connectors (ltx-core Embeddings1DConnector), run per modality on [B, T, dim] features whose
// valid tokens come first in each row (right padding; the processor reorders left-padded input
// with a stable sort): pad slots are replaced by the learned registers tiled over the sequence
// (slot t gets register t % R; T must be a multiple of R), then N blocks of
//   x += to_out(gate * attn(rope(q_norm(to_q(n))), rope(k_norm(to_k(n))), to_v(n))), n = rmsnorm(x)
//   x += ff(rmsnorm(x))       (ff = Linear(dim, 4 dim) -> gelu-tanh -> Linear(4 dim, dim))
// with unmasked bidirectional attention over all T slots, weightless RMSNorms, q/k RMSNorm over
// the whole inner dim with weights, 1-D RoPE (split per head, or interleaved) over fractional
// positions t / max_pos, and optional per-head gates 2*sigmoid(to_gate_logits(n)); then a final
// weightless RMSNorm. Every output row is used downstream (the mask after the connector is all 1).
//
// Stateless; any thread/device; inputs are not modified.
#pragma once

#include <ATen/ATen.h>

#include <string>
#include <utility>
#include <vector>

#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/text/embeddings_processor_config.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::text {

// One projection in per-layer form: weight [L, out, D] (layer l = the checkpoint's columns
// d*L + l), bias [out].
struct LayerProjection {
  at::Tensor weight;
  at::Tensor bias;
};

struct FeatureExtractorWeights {
  LayerProjection video;
  LayerProjection audio;
};

struct ConnectorBlockWeights {
  at::Tensor to_q_w, to_q_b, to_k_w, to_k_b, to_v_w, to_v_b;  // [dim, dim], [dim]
  at::Tensor q_norm, k_norm;                                   // [dim]
  at::Tensor to_out_w, to_out_b;                               // [dim, dim], [dim]
  at::Tensor gate_w, gate_b;                                   // [heads, dim], [heads] (gated only)
  at::Tensor ff_in_w, ff_in_b;                                 // [4 dim, dim], [4 dim] (bias optional)
  at::Tensor ff_out_w, ff_out_b;                               // [dim, 4 dim], [dim] (bias optional)
};

struct ConnectorWeights {
  std::vector<ConnectorBlockWeights> blocks;
  at::Tensor registers;  // [R, dim]
};

struct EmbeddingsProcessorWeights {
  FeatureExtractorWeights features;
  ConnectorWeights video;
  ConnectorWeights audio;
};

// The checkpoint tensor names and shapes of the whole processor, in a fixed order
// (text_embedding_projection.{video,audio}_aggregate_embed.*, then
// model.diffusion_model.{video,audio}_embeddings_connector.*).
std::vector<std::pair<std::string, std::vector<int64_t>>> embeddings_processor_tensor_shapes(
    const EmbeddingsProcessorConfig& c);
// Loads and checks every tensor (names, shapes, one float dtype). The projections are
// rearranged into per-layer form (a copy); the rest are zero-copy views. Throws CheckpointError.
EmbeddingsProcessorWeights load_embeddings_processor(const io::Checkpoint& ck, const EmbeddingsProcessorConfig& c);
// Builds the weight struct from checkpoint-named tensors (e.g. freshly generated ones); throws
// CheckpointError naming a missing or mis-shaped tensor.
EmbeddingsProcessorWeights embeddings_processor_from_tensors(
    const std::vector<std::pair<std::string, at::Tensor>>& tensors, const EmbeddingsProcessorConfig& c);
// A copy with every tensor moved/cast.
EmbeddingsProcessorWeights to(const EmbeddingsProcessorWeights& w, at::Device device, at::ScalarType dtype);

// ---- feature extractor, one layer at a time

// fp32 accumulators [N, video_dim] and [N, audio_dim] for N token rows, initialised to the biases.
struct ProjectionAccumulators {
  at::Tensor video;
  at::Tensor audio;
};
ProjectionAccumulators feature_accumulators(const FeatureExtractorWeights& w, int64_t rows, at::Device device);
// Adds hidden state layer_index (0 = embedding, ..., L-1 = final norm) for N token rows:
// hidden [N, D] (any float dtype; computed in fp32, matmul in the weights' dtype); row_valid [N]
// bool/0-1 (pad rows add nothing), or an undefined tensor when every row is a real token.
void feature_accumulate_layer(ProjectionAccumulators& acc, const at::Tensor& hidden, const at::Tensor& row_valid,
                              int64_t layer_index, const FeatureExtractorWeights& w,
                              const EmbeddingsProcessorConfig& c);

// ---- connectors

// Stable reordering of each row so valid tokens come first: index [B, T] for gathering along
// dim 1, and the number of valid tokens per row [B].
std::pair<at::Tensor, at::Tensor> right_pad_order(const at::Tensor& attention_mask);
// The connector one step at a time (for streaming its blocks); connector_forward is exactly
// connector_output(blocks...(connector_inputs(...))) with one connector_rope for all blocks.
//
// cos/sin of the 1-D RoPE for seq_len slots, in dtype on device: [T, dim/2] (split, per head) or
// [T, dim] (interleaved). Build once per call; every block uses the same tables.
struct ConnectorRope {
  at::Tensor cos;
  at::Tensor sin;
};
ConnectorRope connector_rope(const ConnectorConfig& c, int64_t seq_len, at::ScalarType dtype, at::Device device);
// Registers (registers [R, dim], tiled: slot t gets row t % R) in place of the slots at or after
// lengths[b] of features [B, T, dim]. Throws std::invalid_argument when T % R != 0.
at::Tensor connector_inputs(const at::Tensor& features, const at::Tensor& lengths, const at::Tensor& registers);
// One block on x [B, T, dim] (unmasked attention over all T slots).
at::Tensor connector_block_forward(const ConnectorBlockWeights& w, const at::Tensor& x, const ConnectorRope& rope,
                                   const ConnectorConfig& c);
// The final weightless RMSNorm.
at::Tensor connector_output(const at::Tensor& x);

// One connector over features [B, T, dim] whose first lengths[b] slots per row are real tokens
// (lengths [B] int64). Returns [B, T, dim] in the features' dtype (weights must match it).
at::Tensor connector_forward(const ConnectorWeights& w, const at::Tensor& features, const at::Tensor& lengths,
                             const ConnectorConfig& c);

// ---- whole processor

// Per prompt b, T rows in connector order: the prompt's real tokens first (in order), then the
// register slots; every row is used downstream (ltx-core's mask after the connectors is all ones).
struct PromptContexts {
  at::Tensor video;  // [B, T, video_dim]
  at::Tensor audio;  // [B, T, audio_dim]
};

// Feature extractor + connectors on all hidden states (L tensors [B, T, D]) of a padded batch
// with attention_mask [B, T] (1 = real token; either padding side). Features are cast to the
// weights' dtype before the connectors (as ltx-core does).
PromptContexts embeddings_processor_forward(const EmbeddingsProcessorWeights& w,
                                            const std::vector<at::Tensor>& hidden_states,
                                            const at::Tensor& attention_mask, const EmbeddingsProcessorConfig& c);

// The resident padded reference path: token rows input_ids [B, T] and attention_mask [B, T] ->
// Gemma hidden states -> feature extractor -> connectors. Per prompt b: video [b] is [T, 4096]
// and audio [b] is [T, 2048] at real sizes.
PromptContexts encode_reference(const GemmaWeights& gemma, const GemmaConfig& gemma_config,
                                const EmbeddingsProcessorWeights& processor, const EmbeddingsProcessorConfig& config,
                                const at::Tensor& input_ids, const at::Tensor& attention_mask);

}  // namespace ff::text
