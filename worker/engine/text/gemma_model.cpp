#include "worker/engine/text/gemma_model.hpp"


#include "worker/engine/layers/layers.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

namespace ff::text {

namespace {

RotaryTables rope_tables(const io::RopeParams& p, int64_t head_dim, const at::Tensor& position_ids,
                         at::ScalarType dtype) {
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(position_ids.device());
  // inv_freq = 1 / theta^(2i/d), then / factor for linear scaling (HF's formulation, in fp32).
  at::Tensor exponents = at::arange(0, head_dim, 2, f32.dtype(at::kLong)).to(at::kFloat) / static_cast<double>(head_dim);
  at::Tensor inv_freq = 1.0 / at::pow(at::scalar_tensor(p.theta, f32), exponents);
  inv_freq = inv_freq / p.linear_factor;
  at::Tensor freqs = position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, d/2]
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

// x [B, H, T, D]; cos/sin [B, T, D] with equal halves (HF: cat(freqs, freqs)). HF's
// x * cos + rotate_half(x) * sin, written half by half into one output (no rotated copy).
at::Tensor apply_rope(const at::Tensor& x, const RotaryTables& t) {
  const int64_t half = x.size(-1) / 2;
  at::Tensor c = t.cos.unsqueeze(1).narrow(-1, 0, half), s = t.sin.unsqueeze(1).narrow(-1, 0, half);
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor out = at::empty_like(x);
  at::Tensor o1 = out.narrow(-1, 0, half), o2 = out.narrow(-1, half, half);
  at::mul_out(o1, x1, c).addcmul_(x2, s, -1);
  at::mul_out(o2, x2, c).addcmul_(x1, s);
  return out;
}



}  // namespace

GemmaRope gemma_rope(const GemmaConfig& c, const at::Tensor& position_ids, at::ScalarType dtype) {
  return {rope_tables(c.rope_local, c.head_dim, position_ids, dtype),
          rope_tables(c.rope_global, c.head_dim, position_ids, dtype)};
}

GemmaMask gemma_mask(const GemmaConfig& c, const at::Tensor& position_ids, const at::Tensor& key_valid) {
  at::Tensor pq = position_ids.unsqueeze(-1);  // [B, T, 1]
  at::Tensor pk = position_ids.unsqueeze(-2);  // [B, 1, T]
  at::Tensor valid = key_valid.to(at::kBool).unsqueeze(-2);
  int64_t t = position_ids.size(-1);
  at::Tensor self = at::eye(t, at::TensorOptions().dtype(at::kBool).device(position_ids.device())).unsqueeze(0);
  at::Tensor global = (pk <= pq).logical_and(valid).logical_or(self);
  at::Tensor local = global.logical_and((pq - pk) < c.sliding_window).logical_or(self);
  return {local.unsqueeze(1), global.unsqueeze(1)};
}

at::Tensor gemma_rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  // (1 + w) must stay fp32 (in bf16 it would round): normalise in fp32, round once at the end.
  return layers::rms_norm(x.to(at::kFloat), 1.0 + weight.to(at::kFloat), eps).to(x.scalar_type());
}

at::Tensor gemma_gather(const at::Tensor& embed_tokens, const at::Tensor& input_ids, bool pinned_out) {
  at::Tensor ids = input_ids.to(embed_tokens.device(), at::kLong);
  if (ids.numel() > 0) {
    int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= embed_tokens.size(0))
      throw std::invalid_argument("gemma_embed: token id out of range [0, " + std::to_string(embed_tokens.size(0)) +
                                  "): min " + std::to_string(lo) + ", max " + std::to_string(hi));
  }
  if (!pinned_out) return at::embedding(embed_tokens, ids);
  at::Tensor rows = at::empty({ids.numel(), embed_tokens.size(1)}, embed_tokens.options().pinned_memory(true));
  at::index_select_out(rows, embed_tokens, 0, ids.reshape({-1}));
  std::vector<int64_t> shape(ids.sizes().begin(), ids.sizes().end());
  shape.push_back(embed_tokens.size(1));
  return rows.view(shape);
}

at::Tensor gemma_scale_embeddings(const at::Tensor& rows, const GemmaConfig& c) {
  at::Tensor scale = at::scalar_tensor(std::sqrt(static_cast<double>(c.hidden_size)), at::kFloat)
                         .to(rows.scalar_type())
                         .to(rows.device());
  return rows * scale;
}

at::Tensor gemma_embed(const at::Tensor& embed_tokens, const at::Tensor& input_ids, const GemmaConfig& c) {
  return gemma_scale_embeddings(gemma_gather(embed_tokens, input_ids), c);
}

at::Tensor gemma_layer_forward(const GemmaLayerWeights& w, const at::Tensor& hidden, int64_t layer_index,
                               const GemmaRope& rope, const GemmaMask& mask, const GemmaConfig& c) {
  const int64_t b = hidden.size(0), t = hidden.size(1);
  const int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads, hd = c.head_dim;
  const double eps = c.rms_norm_eps;

  at::Tensor h = gemma_rms_norm(hidden, w.input_layernorm, eps);
  at::Tensor q = at::linear(h, w.q_proj).view({b, t, nh, hd});
  at::Tensor k = at::linear(h, w.k_proj).view({b, t, nkv, hd});
  at::Tensor v = at::linear(h, w.v_proj).view({b, t, nkv, hd}).transpose(1, 2);
  q = gemma_rms_norm(q, w.q_norm, eps).transpose(1, 2);
  k = gemma_rms_norm(k, w.k_norm, eps).transpose(1, 2);
  const RotaryTables& rt = rope.for_layer(c, layer_index);
  q = apply_rope(q, rt);
  k = apply_rope(k, rt);
  at::Tensor a = layers::masked_attention(q, k, v, mask.for_layer(c, layer_index), 1.0 / std::sqrt(c.query_pre_attn_scalar));
  a = a.transpose(1, 2).reshape({b, t, nh * hd});
  at::Tensor o = at::linear(a, w.o_proj);
  at::Tensor x = hidden + gemma_rms_norm(o, w.post_attention_layernorm, eps);

  h = gemma_rms_norm(x, w.pre_feedforward_layernorm, eps);
  at::Tensor m = at::linear(layers::gelu_tanh(at::linear(h, w.gate_proj)) * at::linear(h, w.up_proj), w.down_proj);
  return x + gemma_rms_norm(m, w.post_feedforward_layernorm, eps);
}

at::Tensor gemma_final_norm(const at::Tensor& norm_weight, const at::Tensor& hidden, const GemmaConfig& c) {
  return gemma_rms_norm(hidden, norm_weight, c.rms_norm_eps);
}

at::Tensor padded_position_ids(int64_t batch, int64_t seq, at::Device device) {
  return at::arange(seq, at::TensorOptions().dtype(at::kLong).device(device)).unsqueeze(0).expand({batch, seq});
}

std::vector<at::Tensor> gemma_hidden_states(const GemmaWeights& w, const at::Tensor& input_ids,
                                            const at::Tensor& attention_mask, const GemmaConfig& c) {
  if (input_ids.dim() != 2 || attention_mask.sizes() != input_ids.sizes())
    throw std::invalid_argument("gemma_hidden_states: input_ids and attention_mask must both be [B, T]");
  const at::Device dev = w.embed_tokens.device();
  at::Tensor pos = padded_position_ids(input_ids.size(0), input_ids.size(1), dev);
  GemmaRope rope = gemma_rope(c, pos, w.embed_tokens.scalar_type());
  GemmaMask mask = gemma_mask(c, pos, attention_mask.to(dev));
  std::vector<at::Tensor> out;
  out.reserve(c.num_hidden_layers + 1);
  at::Tensor x = gemma_embed(w.embed_tokens, input_ids, c);
  out.push_back(x);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    x = gemma_layer_forward(w.layers.at(l), x, l, rope, mask, c);
    if (l + 1 < c.num_hidden_layers) out.push_back(x);
  }
  out.push_back(gemma_final_norm(w.norm, x, c));
  return out;
}

}  // namespace ff::text
