#include "worker/engine/video/transformer_weights.hpp"

#include <cmath>

namespace ff::video {
namespace {

void add_linear(std::vector<WeightSlot>& out, LinearWeights& l, const std::string& name,
                int64_t out_f, int64_t in_f, bool bias, double std_scale = 1.0) {
  out.push_back({name + ".weight", {out_f, in_f},
                 WeightInit::normal(std_scale / std::sqrt(static_cast<double>(in_f))), &l.weight});
  if (bias) out.push_back({name + ".bias", {out_f}, WeightInit::constant(0.0), &l.bias});
}

void add_attention(std::vector<WeightSlot>& out, AttentionWeights& a, const std::string& name,
                   int64_t dim, int64_t kv_dim) {
  add_linear(out, a.to_q, name + ".to_q", dim, dim, true);
  add_linear(out, a.to_k, name + ".to_k", dim, kv_dim, true);
  add_linear(out, a.to_v, name + ".to_v", dim, kv_dim, true);
  add_linear(out, a.to_out, name + ".to_out.0", dim, dim, true);
  out.push_back({name + ".q_norm.weight", {dim}, WeightInit::constant(1.0), &a.q_norm});
  out.push_back({name + ".k_norm.weight", {dim}, WeightInit::constant(1.0), &a.k_norm});
}

}  // namespace

std::vector<WeightSlot> global_slots(TransformerGlobals& g, const TransformerConfig& c,
                                     const std::string& prefix) {
  const int64_t d = c.inner_dim();
  std::vector<WeightSlot> s;
  add_linear(s, g.patchify_proj, prefix + "patchify_proj", d, c.patch_dim(), true);
  add_linear(s, g.time_linear_1, prefix + "adaln_single.emb.timestep_embedder.linear_1", d,
             c.timestep_embedding_dim, true);
  add_linear(s, g.time_linear_2, prefix + "adaln_single.emb.timestep_embedder.linear_2", d, d, true);
  add_linear(s, g.adaln, prefix + "adaln_single.linear", 6 * d, d, true, 0.5);
  s.push_back({prefix + "scale_shift_table", {2, d},
               WeightInit::normal(1.0 / std::sqrt(static_cast<double>(d))), &g.scale_shift_table});
  add_linear(s, g.proj_out, prefix + "proj_out", c.patch_dim(), d, true);
  return s;
}

std::vector<WeightSlot> block_slots(TransformerBlockWeights& b, const TransformerConfig& c,
                                    const std::string& prefix, int64_t index) {
  const int64_t d = c.inner_dim();
  const std::string p = prefix + "transformer_blocks." + std::to_string(index);
  std::vector<WeightSlot> s;
  s.push_back({p + ".scale_shift_table", {6, d},
               WeightInit::normal(1.0 / std::sqrt(static_cast<double>(d))), &b.scale_shift_table});
  add_attention(s, b.attn1, p + ".attn1", d, d);
  add_attention(s, b.attn2, p + ".attn2", d, c.cross_attention_dim);
  add_linear(s, b.ff_gate, p + ".ff.gate_proj", c.ffn_dim, d, false);
  add_linear(s, b.ff_up, p + ".ff.up_proj", c.ffn_dim, d, false);
  add_linear(s, b.ff_down, p + ".ff.down_proj", d, c.ffn_dim, false);
  return s;
}

std::vector<WeightSlot> transformer_slots(TransformerWeights& w, const TransformerConfig& c,
                                          const std::string& prefix) {
  w.blocks.resize(static_cast<size_t>(c.num_layers));
  auto s = global_slots(w.globals, c, prefix);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    auto b = block_slots(w.blocks[static_cast<size_t>(i)], c, prefix, i);
    s.insert(s.end(), b.begin(), b.end());
  }
  return s;
}

}  // namespace ff::video
