#include "worker/engine/encode/gemma_ltx_ops.hpp"

#include "worker/engine/text/gemma_model.hpp"

namespace ff::engine::encode {
namespace {

struct GemmaWindow final : WindowContext {
  text::GemmaRope rope;
  text::GemmaMask mask;
  at::Tensor real;  // [B, W] bool
};

text::FeatureExtractorWeights slice_weights(const rt::BlockTensors& b) {
  text::FeatureExtractorWeights w;
  w.video.weight = b.get("fe_video").unsqueeze(0);  // [1, out, D]: layer index 0 selects it
  w.audio.weight = b.get("fe_audio").unsqueeze(0);
  return w;
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor*>> connector_block_fields(text::ConnectorBlockWeights& w) {
  return {{"to_q_w", &w.to_q_w}, {"to_q_b", &w.to_q_b}, {"to_k_w", &w.to_k_w}, {"to_k_b", &w.to_k_b},
          {"to_v_w", &w.to_v_w}, {"to_v_b", &w.to_v_b}, {"q_norm", &w.q_norm}, {"k_norm", &w.k_norm},
          {"to_out_w", &w.to_out_w}, {"to_out_b", &w.to_out_b}, {"gate_w", &w.gate_w}, {"gate_b", &w.gate_b},
          {"ff_in_w", &w.ff_in_w}, {"ff_in_b", &w.ff_in_b}, {"ff_out_w", &w.ff_out_w}, {"ff_out_b", &w.ff_out_b}};
}

rt::BlockTensors text_block_tensors(const text::GemmaLayerWeights& layer, const at::Tensor& fe_video,
                                    const at::Tensor& fe_audio) {
  rt::BlockTensors b;
  for (const auto& [name, t] : layer.named()) b.add(name, *t);
  b.add("fe_video", fe_video);
  b.add("fe_audio", fe_audio);
  return b;
}

text::GemmaLayerWeights gemma_layer_from_block(const rt::BlockTensors& b) {
  text::GemmaLayerWeights w;
  for (auto& [name, t] : w.named()) *t = b.get(name);
  return w;
}

rt::BlockTensors connector_block_tensors(const text::ConnectorBlockWeights& w) {
  rt::BlockTensors b;
  text::ConnectorBlockWeights blk = w;
  for (const auto& [field, t] : connector_block_fields(blk))
    if (t->defined()) b.add(field, *t);
  return b;
}

text::ConnectorBlockWeights connector_block_from(const rt::BlockTensors& b) {
  text::ConnectorBlockWeights blk;
  for (auto& [field, t] : connector_block_fields(blk))
    if (b.has(field)) *t = b.get(field);
  return blk;
}

GemmaLtxOps::GemmaLtxOps(text::GemmaConfig gemma, text::EmbeddingsProcessorConfig processor, at::ScalarType dtype)
    : g_(std::move(gemma)), p_(std::move(processor)), dtype_(dtype) {}

EncoderDims GemmaLtxOps::dims() const {
  EncoderDims d;
  d.hidden = g_.hidden_size;
  d.intermediate = g_.intermediate_size;
  d.heads = g_.num_attention_heads;
  d.kv_heads = g_.num_key_value_heads;
  d.head_dim = g_.head_dim;
  d.video_dim = p_.video_dim;
  d.audio_dim = p_.audio_dim;
  d.connector_width = std::max(p_.video.dim(), p_.audio.dim());
  d.connector_mlp = 4 * d.connector_width;
  d.connector_heads = std::max(p_.video.num_heads, p_.audio.num_heads);
  d.compute_bytes = at::elementSize(dtype_);
  return d;
}

at::Tensor GemmaLtxOps::embed(const at::Tensor& table, const at::Tensor& ids, at::Device dev) const {
  // Gathered on the host into pinned memory: only these rows travel, without blocking the host;
  // scaled on the device (same dtype rounding as on the host).
  if (!dev.is_cuda()) return text::gemma_embed(table, ids, g_).to(dev);
  return text::gemma_scale_embeddings(text::gemma_gather(table, ids, /*pinned_out=*/true).to(dev, /*non_blocking=*/true),
                                      g_);
}

std::unique_ptr<WindowContext> GemmaLtxOps::window_context(const at::Tensor& real, int first_position,
                                                           at::Device dev) const {
  auto c = std::make_unique<GemmaWindow>();
  const int64_t b = real.size(0), w = real.size(1);
  at::Tensor pos = at::arange(first_position, first_position + w, at::TensorOptions().dtype(at::kLong).device(dev))
                       .unsqueeze(0)
                       .expand({b, w})
                       .contiguous();
  c->real = real.to(dev);
  c->rope = text::gemma_rope(g_, pos, dtype_);
  c->mask = text::gemma_mask(g_, pos, c->real);
  return c;
}

at::Tensor GemmaLtxOps::layer(const rt::BlockTensors& w, int i, const at::Tensor& hidden, const WindowContext& ctx) const {
  const auto& c = static_cast<const GemmaWindow&>(ctx);
  return text::gemma_layer_forward(gemma_layer_from_block(w), hidden, i, c.rope, c.mask, g_);
}

at::Tensor GemmaLtxOps::final_norm(const rt::BlockTensors& fixed, const at::Tensor& hidden) const {
  return text::gemma_final_norm(fixed.get("norm"), hidden, g_);
}

void GemmaLtxOps::fold(const rt::BlockTensors& slices, int, const at::Tensor& hidden, const WindowContext& ctx,
                       at::Tensor& acc_video, at::Tensor& acc_audio) const {
  const auto& c = static_cast<const GemmaWindow&>(ctx);
  const int64_t n = hidden.size(0) * hidden.size(1);
  text::ProjectionAccumulators acc{acc_video.view({n, p_.video_dim}), acc_audio.view({n, p_.audio_dim})};
  text::feature_accumulate_layer(acc, hidden.reshape({n, g_.hidden_size}), c.real.reshape({n}), 0,
                                 slice_weights(slices), p_);
}

std::pair<at::Tensor, at::Tensor> GemmaLtxOps::features(const rt::BlockTensors& fixed, const at::Tensor& acc_video,
                                                        const at::Tensor& acc_audio, const at::Tensor& real_full) const {
  // The reference computes bias + projections for every padded row (pads contribute nothing,
  // so a pad row is the bias), then moves real tokens first (stable). Same here, from the window.
  const int64_t b = real_full.size(0), l = real_full.size(1), w = acc_video.size(1);
  at::Tensor lengths = real_full.sum(-1).to(at::kCPU);
  auto build = [&](const at::Tensor& acc, const at::Tensor& bias) {
    at::Tensor out = bias.to(at::kFloat).view({1, 1, -1}).expand({b, l, bias.size(0)}).contiguous();
    for (int64_t r = 0; r < b; ++r) {
      const int64_t n = lengths[r].item<int64_t>();
      out[r].narrow(0, 0, n).add_(acc[r].narrow(0, w - n, n));
    }
    return out.to(dtype_);
  };
  return {build(acc_video, fixed.get("fe_video_bias")), build(acc_audio, fixed.get("fe_audio_bias"))};
}

at::Tensor GemmaLtxOps::connector_begin(const rt::BlockTensors& fixed, int m, const at::Tensor& features,
                                        const at::Tensor& real_full) const {
  return text::connector_inputs(features, real_full.sum(-1).to(at::kLong),
                                fixed.get(m == 0 ? "video_registers" : "audio_registers"));
}

at::Tensor GemmaLtxOps::connector_block(const rt::BlockTensors& w, int m, int, const at::Tensor& x,
                                        const at::Tensor&) const {
  const text::ConnectorConfig& c = m == 0 ? p_.video : p_.audio;
  const auto key = std::make_tuple(m, x.size(1), static_cast<int>(x.scalar_type()), x.device().str());
  auto it = rope_cache_.find(key);
  if (it == rope_cache_.end()) {
    if (rope_cache_.size() >= 8) rope_cache_.clear();  // bounded: a few (modality, length) pairs in practice
    it = rope_cache_.emplace(key, text::connector_rope(c, x.size(1), x.scalar_type(), x.device())).first;
  }
  return text::connector_block_forward(connector_block_from(w), x, it->second, c);
}

at::Tensor GemmaLtxOps::connector_end(const rt::BlockTensors&, int, const at::Tensor& x) const {
  return text::connector_output(x);
}

}  // namespace ff::engine::encode
