// One BasicAVTransformerBlock of ltx-core (transformer.py), over AVBlockWeights. The order of
// operations and the bf16 rounding points follow the reference: every `a * b + c` below is two
// roundings in the compute dtype, as the Python expression is.
#include <algorithm>

#include "worker/engine/layers/layers.hpp"
#include "worker/engine/ltx2/av_transformer.hpp"

namespace ff::ltx2 {
namespace {

namespace L = ff::layers;

// rms(x) * (1 + scale) + shift (ltx-core's ada_zero: weightless RMSNorm, then modulation).
at::Tensor ada_norm(const at::Tensor& x, double eps, const at::Tensor& scale, const at::Tensor& shift) {
  return L::rms_norm(x, at::Tensor(), eps) * (1 + scale) + shift;
}

// Row `row` of a per-block table plus the matching chunk of the AdaLN output:
// table[row] (cast to the compute dtype) + ts.view(B, N', rows_in_ts, D)[:, :, row].
at::Tensor ada_row(const at::Tensor& table, const at::Tensor& ts, int64_t rows_in_ts, int64_t row,
                   int64_t table_row) {
  const int64_t b = ts.size(0), n = ts.size(1);
  return table.select(0, table_row).to(ts.scalar_type()) + ts.view({b, n, rows_in_ts, -1}).select(2, row);
}

// ltx-core apply_split_rotary_emb on x [B, H, N, Dh]: out = x * cos per half, then the cross
// terms added with one fused multiply-add each (addcmul_, as the reference).
at::Tensor split_rope(const at::Tensor& x, const RopeTables& pe) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  at::Tensor o1 = at::addcmul(x1 * pe.cos, -pe.sin, x2);
  at::Tensor o2 = at::addcmul(x2 * pe.cos, pe.sin, x1);
  return at::cat({o1, o2}, -1);
}

// [B, N, H*Dh] -> [B, H, N, Dh]
at::Tensor heads_first(const at::Tensor& t, int64_t heads) {
  return t.view({t.size(0), t.size(1), heads, -1}).transpose(1, 2);
}

// ltx-core Attention.forward. `value_only` is the all-perturbed STG path: out = to_v(context).
at::Tensor attention(const AVAttentionWeights& a, const at::Tensor& x, const at::Tensor& context, int64_t heads,
                     double eps, const RopeTables* pe, const RopeTables* k_pe, bool value_only) {
  at::Tensor v = L::linear(context, a.to_v);
  at::Tensor out;
  if (value_only) {
    out = v;
  } else {
    // Norm weights stored in another dtype (e.g. F32 next to bf16 activations) are cast first.
    at::Tensor q = L::linear(x, a.to_q), k = L::linear(context, a.to_k);
    q = L::rms_norm(q, a.q_norm.to(q.scalar_type()), eps);
    k = L::rms_norm(k, a.k_norm.to(k.scalar_type()), eps);
    at::Tensor q4 = heads_first(q, heads), k4 = heads_first(k, heads);
    if (pe) {
      q4 = split_rope(q4, *pe);
      k4 = split_rope(k4, k_pe ? *k_pe : *pe);
    }
    out = L::merge_heads(L::attention(q4, k4, heads_first(v, heads)));
  }
  if (a.to_gate_logits.weight.defined()) {
    // Per-head gate 2 * sigmoid(logits(x)) on the attention output, before to_out.
    at::Tensor gates = 2.0 * at::sigmoid(L::linear(x, a.to_gate_logits));  // [B, N, H]
    const int64_t b = out.size(0), n = out.size(1);
    out = (out.view({b, n, heads, -1}) * gates.unsqueeze(-1)).view({b, n, -1});
  }
  return L::linear(out, a.to_out);
}

at::Tensor feed_forward(const AVFeedForwardWeights& f, const at::Tensor& x) {
  return L::linear(L::gelu_tanh(L::linear(x, f.proj_in)), f.proj_out);
}

struct StreamBlock {
  const at::Tensor& table;
  const at::Tensor& prompt_table;
  const AVAttentionWeights& self_attn;
  const AVAttentionWeights& text_attn;
  const AVFeedForwardWeights& ff;
  int64_t heads;
};

// Self-attention and text cross-attention of one stream (steps 1-2 / 3 of the block).
at::Tensor self_and_text(const StreamBlock& w, const AVTransformerConfig& c, const AVStreamState& s,
                         bool skip_self) {
  const int64_t coef = c.adaln_coefficient();
  const double eps = c.norm_eps;
  at::Tensor x = s.x;
  {
    at::Tensor shift = ada_row(w.table, s.timestep, coef, 0, 0);
    at::Tensor scale = ada_row(w.table, s.timestep, coef, 1, 1);
    at::Tensor gate = ada_row(w.table, s.timestep, coef, 2, 2);
    at::Tensor normed = ada_norm(x, eps, scale, shift);
    at::Tensor y = attention(w.self_attn, normed, normed, w.heads, eps, &s.rope, nullptr, skip_self);
    x = x + y * gate;
  }
  at::Tensor x_normed = L::rms_norm(x, at::Tensor(), eps);
  if (!c.cross_attention_adaln)
    return x + attention(w.text_attn, x_normed, s.context, w.heads, eps, nullptr, nullptr, false);
  at::Tensor shift_q = ada_row(w.table, s.timestep, coef, 6, 6);
  at::Tensor scale_q = ada_row(w.table, s.timestep, coef, 7, 7);
  at::Tensor gate = ada_row(w.table, s.timestep, coef, 8, 8);
  // Context modulation: prompt table (+ prompt AdaLN of the step sigma).
  const auto dtype = x.scalar_type();
  at::Tensor shift_kv = w.prompt_table.select(0, 0).to(dtype);
  at::Tensor scale_kv = w.prompt_table.select(0, 1).to(dtype);
  if (s.prompt_timestep.defined()) {
    shift_kv = ada_row(w.prompt_table, s.prompt_timestep, 2, 0, 0);
    scale_kv = ada_row(w.prompt_table, s.prompt_timestep, 2, 1, 1);
  }
  at::Tensor query = x_normed * (1 + scale_q) + shift_q;
  at::Tensor context = s.context * (1 + scale_kv) + shift_kv;
  return x + attention(w.text_attn, query, context, w.heads, eps, nullptr, nullptr, false) * gate;
}

at::Tensor ff_step(const StreamBlock& w, const AVTransformerConfig& c, const at::Tensor& x, const at::Tensor& ts) {
  const int64_t coef = c.adaln_coefficient();
  at::Tensor shift = ada_row(w.table, ts, coef, 3, 3);
  at::Tensor scale = ada_row(w.table, ts, coef, 4, 4);
  at::Tensor gate = ada_row(w.table, ts, coef, 5, 5);
  return x + feed_forward(w.ff, ada_norm(x, c.norm_eps, scale, shift)) * gate;
}

// The A/V cross-attention modulation of one stream for direction rows (r, r+1) = (scale, shift):
// the 5-row table's first 4 rows pair with the 4-chunk scale/shift AdaLN output.
at::Tensor av_query(const at::Tensor& table, const AVStreamState& s, const at::Tensor& x_pre, int64_t r, double eps) {
  at::Tensor scale = ada_row(table, s.cross_scale_shift_timestep, 4, r, r);
  at::Tensor shift = ada_row(table, s.cross_scale_shift_timestep, 4, r + 1, r + 1);
  return ada_norm(x_pre, eps, scale, shift);
}

// The gate row (row 4) plus the 1-chunk gate AdaLN output (driven by the other stream's sigma).
at::Tensor av_gate(const at::Tensor& table, const AVStreamState& s) {
  return ada_row(table, s.cross_gate_timestep, 1, 0, 4);
}

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

bool PassConfig::skips_video_self(int64_t block) const {
  return contains(skip_self_attention_blocks, block) || contains(skip_video_self_attention_blocks, block);
}
bool PassConfig::skips_audio_self(int64_t block) const {
  return contains(skip_self_attention_blocks, block) || contains(skip_audio_self_attention_blocks, block);
}
bool PassConfig::skips_a2v(int64_t block) const { return skip_cross_modal || contains(skip_a2v_blocks, block); }
bool PassConfig::skips_v2a(int64_t block) const { return skip_cross_modal || contains(skip_v2a_blocks, block); }

void av_block_forward(const AVBlockWeights& b, const AVTransformerConfig& c, int64_t block_index,
                      const PassConfig& pass, AVState& state) {
  const StreamBlock video{b.scale_shift_table, b.prompt_scale_shift_table, b.attn1, b.attn2, b.ff,
                          c.num_attention_heads};
  const StreamBlock audio{b.audio_scale_shift_table, b.audio_prompt_scale_shift_table, b.audio_attn1,
                          b.audio_attn2, b.audio_ff, c.audio_num_attention_heads};
  const bool run_video = state.video.x.numel() > 0, run_audio = state.audio.x.numel() > 0;
  at::Tensor vx = state.video.x, ax = state.audio.x;
  if (run_video) vx = self_and_text(video, c, state.video, pass.skips_video_self(block_index));
  if (run_audio) ax = self_and_text(audio, c, state.audio, pass.skips_audio_self(block_index));

  if (run_video && run_audio) {
    // Both directions read the hidden states from before A2V.
    const at::Tensor vx_pre = vx, ax_pre = ax;
    const double eps = c.norm_eps;
    const int64_t heads = c.audio_num_attention_heads;  // A/V attention uses the audio geometry
    if (!pass.skips_a2v(block_index)) {
      at::Tensor q = av_query(b.scale_shift_table_a2v_ca_video, state.video, vx_pre, 0, eps);
      at::Tensor kv = av_query(b.scale_shift_table_a2v_ca_audio, state.audio, ax_pre, 0, eps);
      at::Tensor gate = av_gate(b.scale_shift_table_a2v_ca_video, state.video);
      vx = vx + attention(b.audio_to_video_attn, q, kv, heads, eps, &state.video.cross_rope,
                          &state.audio.cross_rope, false) * gate;
    }
    if (!pass.skips_v2a(block_index)) {
      at::Tensor q = av_query(b.scale_shift_table_a2v_ca_audio, state.audio, ax_pre, 2, eps);
      at::Tensor kv = av_query(b.scale_shift_table_a2v_ca_video, state.video, vx_pre, 2, eps);
      at::Tensor gate = av_gate(b.scale_shift_table_a2v_ca_audio, state.audio);
      ax = ax + attention(b.video_to_audio_attn, q, kv, heads, eps, &state.audio.cross_rope,
                          &state.video.cross_rope, false) * gate;
    }
  }

  if (run_video) vx = ff_step(video, c, vx, state.video.timestep);
  if (run_audio) ax = ff_step(audio, c, ax, state.audio.timestep);
  state.video.x = vx;
  state.audio.x = ax;
}

}  // namespace ff::ltx2
