#include "worker/engine/ltx2/av_transformer_weights.hpp"

#include <cmath>

#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::ltx2 {
namespace {

using ff::layers::Linear;
using ff::layers::WeightInit;
using ff::layers::WeightSlot;

constexpr int64_t kFeedForwardMult = 4;
constexpr int64_t kAVScaleShiftRows = 5;    // 4 scale/shift rows + 1 gate row

WeightInit fan_in(int64_t in, double scale = 1.0) {
  return WeightInit::normal(scale / std::sqrt(static_cast<double>(in)));
}

void add_linear(std::vector<WeightSlot>& s, Linear& l, const std::string& name, int64_t out, int64_t in,
                bool bias, double scale = 1.0) {
  s.push_back({name + ".weight", {out, in}, fan_in(in, scale), &l.weight});
  if (bias) s.push_back({name + ".bias", {out}, WeightInit::constant(0.0), &l.bias});
}

void add_table(std::vector<WeightSlot>& s, at::Tensor& t, const std::string& name, int64_t rows, int64_t dim) {
  s.push_back({name, {rows, dim}, fan_in(dim), &t});
}

// Attention with query width `qdim`, key/value width `kvdim`, `heads` x `head_dim` inner.
void add_attention(std::vector<WeightSlot>& s, AVAttentionWeights& a, const std::string& name, int64_t qdim,
                   int64_t kvdim, int64_t heads, int64_t head_dim, bool gated) {
  const int64_t inner = heads * head_dim;
  s.push_back({name + ".q_norm.weight", {inner}, WeightInit::constant(1.0), &a.q_norm});
  s.push_back({name + ".k_norm.weight", {inner}, WeightInit::constant(1.0), &a.k_norm});
  add_linear(s, a.to_q, name + ".to_q", inner, qdim, true);
  add_linear(s, a.to_k, name + ".to_k", inner, kvdim, true);
  add_linear(s, a.to_v, name + ".to_v", inner, kvdim, true);
  if (gated) add_linear(s, a.to_gate_logits, name + ".to_gate_logits", heads, qdim, true);
  add_linear(s, a.to_out, name + ".to_out.0", qdim, inner, true);
}

void add_ff(std::vector<WeightSlot>& s, AVFeedForwardWeights& f, const std::string& name, int64_t dim, bool bias) {
  add_linear(s, f.proj_in, name + ".net.0.proj", kFeedForwardMult * dim, dim, bias);
  add_linear(s, f.proj_out, name + ".net.2", dim, kFeedForwardMult * dim, bias);
}

void add_adaln(std::vector<WeightSlot>& s, AdaLNSingleWeights& a, const std::string& name, int64_t dim,
               int64_t coef) {
  add_linear(s, a.linear_1, name + ".emb.timestep_embedder.linear_1", dim, kTimestepChannels, true);
  add_linear(s, a.linear_2, name + ".emb.timestep_embedder.linear_2", dim, dim, true);
  add_linear(s, a.linear, name + ".linear", coef * dim, dim, true, 0.5);
}

void push_linear(std::vector<std::pair<std::string, Linear*>>& out, const std::string& name, Linear& l) {
  out.emplace_back(name, &l);
}

void attention_linears(std::vector<std::pair<std::string, Linear*>>& out, const std::string& name,
                       AVAttentionWeights& a, bool gated) {
  push_linear(out, name + ".to_q", a.to_q);
  push_linear(out, name + ".to_k", a.to_k);
  push_linear(out, name + ".to_v", a.to_v);
  if (gated) push_linear(out, name + ".to_gate_logits", a.to_gate_logits);
  push_linear(out, name + ".to_out.0", a.to_out);
}

void adaln_linears(std::vector<std::pair<std::string, Linear*>>& out, const std::string& name,
                   AdaLNSingleWeights& a) {
  push_linear(out, name + ".emb.timestep_embedder.linear_1", a.linear_1);
  push_linear(out, name + ".emb.timestep_embedder.linear_2", a.linear_2);
  push_linear(out, name + ".linear", a.linear);
}

void attention_fields(NamedFields& f, const std::string& name, AVAttentionWeights& a) {
  f.emplace_back(name + ".q_norm.weight", &a.q_norm);
  f.emplace_back(name + ".k_norm.weight", &a.k_norm);
  for (auto [suffix, l] : {std::pair<const char*, Linear*>{".to_q", &a.to_q}, {".to_k", &a.to_k},
                           {".to_v", &a.to_v}, {".to_gate_logits", &a.to_gate_logits},
                           {".to_out.0", &a.to_out}}) {
    f.emplace_back(name + suffix + ".weight", &l->weight);
    f.emplace_back(name + suffix + ".bias", &l->bias);
  }
}

}  // namespace

std::vector<WeightSlot> av_global_slots(AVGlobals& g, const AVTransformerConfig& c, const std::string& p) {
  const int64_t d = c.inner_dim(), da = c.audio_inner_dim(), coef = c.adaln_coefficient();
  std::vector<WeightSlot> s;
  add_linear(s, g.patchify_proj, p + "patchify_proj", d, c.in_channels, true);
  add_adaln(s, g.adaln_single, p + "adaln_single", d, coef);
  if (c.has_prompt_adaln()) add_adaln(s, g.prompt_adaln_single, p + "prompt_adaln_single", d, 2);
  add_table(s, g.scale_shift_table, p + "scale_shift_table", 2, d);
  add_linear(s, g.proj_out, p + "proj_out", c.out_channels, d, true);
  add_linear(s, g.audio_patchify_proj, p + "audio_patchify_proj", da, c.audio_in_channels, true);
  add_adaln(s, g.audio_adaln_single, p + "audio_adaln_single", da, coef);
  if (c.has_prompt_adaln()) add_adaln(s, g.audio_prompt_adaln_single, p + "audio_prompt_adaln_single", da, 2);
  add_table(s, g.audio_scale_shift_table, p + "audio_scale_shift_table", 2, da);
  add_linear(s, g.audio_proj_out, p + "audio_proj_out", c.audio_out_channels, da, true);
  add_adaln(s, g.av_ca_video_scale_shift_adaln_single, p + "av_ca_video_scale_shift_adaln_single", d, 4);
  add_adaln(s, g.av_ca_audio_scale_shift_adaln_single, p + "av_ca_audio_scale_shift_adaln_single", da, 4);
  add_adaln(s, g.av_ca_a2v_gate_adaln_single, p + "av_ca_a2v_gate_adaln_single", d, 1);
  add_adaln(s, g.av_ca_v2a_gate_adaln_single, p + "av_ca_v2a_gate_adaln_single", da, 1);
  return s;
}

std::vector<WeightSlot> av_block_slots(AVBlockWeights& b, const AVTransformerConfig& c, const std::string& prefix,
                                       int64_t index) {
  const int64_t d = c.inner_dim(), da = c.audio_inner_dim(), coef = c.adaln_coefficient();
  const int64_t h = c.num_attention_heads, ah = c.audio_num_attention_heads;
  const bool gated = c.apply_gated_attention;
  const std::string p = prefix + "transformer_blocks." + std::to_string(index) + ".";
  std::vector<WeightSlot> s;
  add_table(s, b.scale_shift_table, p + "scale_shift_table", coef, d);
  add_table(s, b.audio_scale_shift_table, p + "audio_scale_shift_table", coef, da);
  add_table(s, b.scale_shift_table_a2v_ca_video, p + "scale_shift_table_a2v_ca_video", kAVScaleShiftRows, d);
  add_table(s, b.scale_shift_table_a2v_ca_audio, p + "scale_shift_table_a2v_ca_audio", kAVScaleShiftRows, da);
  if (c.cross_attention_adaln) {
    add_table(s, b.prompt_scale_shift_table, p + "prompt_scale_shift_table", 2, d);
    add_table(s, b.audio_prompt_scale_shift_table, p + "audio_prompt_scale_shift_table", 2, da);
  }
  add_attention(s, b.attn1, p + "attn1", d, d, h, c.attention_head_dim, gated);
  add_attention(s, b.attn2, p + "attn2", d, c.cross_attention_dim, h, c.attention_head_dim, gated);
  add_attention(s, b.audio_attn1, p + "audio_attn1", da, da, ah, c.audio_attention_head_dim, gated);
  add_attention(s, b.audio_attn2, p + "audio_attn2", da, c.audio_cross_attention_dim, ah,
                c.audio_attention_head_dim, gated);
  add_attention(s, b.audio_to_video_attn, p + "audio_to_video_attn", d, da, ah, c.audio_attention_head_dim, gated);
  add_attention(s, b.video_to_audio_attn, p + "video_to_audio_attn", da, d, ah, c.audio_attention_head_dim, gated);
  add_ff(s, b.ff, p + "ff", d, c.ff_bias);
  add_ff(s, b.audio_ff, p + "audio_ff", da, c.audio_ff_bias);
  return s;
}

std::vector<WeightSlot> av_transformer_slots(AVTransformerWeights& w, const AVTransformerConfig& c,
                                             const std::string& prefix) {
  w.blocks.resize(static_cast<size_t>(c.num_layers));
  auto s = av_global_slots(w.globals, c, prefix);
  for (int64_t i = 0; i < c.num_layers; ++i) {
    auto b = av_block_slots(w.blocks[static_cast<size_t>(i)], c, prefix, i);
    s.insert(s.end(), b.begin(), b.end());
  }
  return s;
}

std::vector<std::pair<std::string, Linear*>> av_block_linears(AVBlockWeights& b) {
  std::vector<std::pair<std::string, Linear*>> out;
  const bool gated = b.attn1.to_gate_logits.weight.defined();
  attention_linears(out, "attn1", b.attn1, gated);
  attention_linears(out, "attn2", b.attn2, gated);
  attention_linears(out, "audio_attn1", b.audio_attn1, gated);
  attention_linears(out, "audio_attn2", b.audio_attn2, gated);
  attention_linears(out, "audio_to_video_attn", b.audio_to_video_attn, gated);
  attention_linears(out, "video_to_audio_attn", b.video_to_audio_attn, gated);
  push_linear(out, "ff.net.0.proj", b.ff.proj_in);
  push_linear(out, "ff.net.2", b.ff.proj_out);
  push_linear(out, "audio_ff.net.0.proj", b.audio_ff.proj_in);
  push_linear(out, "audio_ff.net.2", b.audio_ff.proj_out);
  return out;
}

std::vector<std::pair<std::string, Linear*>> av_transformer_linears(AVTransformerWeights& w,
                                                                    const AVTransformerConfig& c) {
  std::vector<std::pair<std::string, Linear*>> out;
  AVGlobals& g = w.globals;
  push_linear(out, "patchify_proj", g.patchify_proj);
  adaln_linears(out, "adaln_single", g.adaln_single);
  if (c.has_prompt_adaln()) adaln_linears(out, "prompt_adaln_single", g.prompt_adaln_single);
  push_linear(out, "proj_out", g.proj_out);
  push_linear(out, "audio_patchify_proj", g.audio_patchify_proj);
  adaln_linears(out, "audio_adaln_single", g.audio_adaln_single);
  if (c.has_prompt_adaln()) adaln_linears(out, "audio_prompt_adaln_single", g.audio_prompt_adaln_single);
  push_linear(out, "audio_proj_out", g.audio_proj_out);
  adaln_linears(out, "av_ca_video_scale_shift_adaln_single", g.av_ca_video_scale_shift_adaln_single);
  adaln_linears(out, "av_ca_audio_scale_shift_adaln_single", g.av_ca_audio_scale_shift_adaln_single);
  adaln_linears(out, "av_ca_a2v_gate_adaln_single", g.av_ca_a2v_gate_adaln_single);
  adaln_linears(out, "av_ca_v2a_gate_adaln_single", g.av_ca_v2a_gate_adaln_single);
  for (size_t i = 0; i < w.blocks.size(); ++i) {
    const std::string p = "transformer_blocks." + std::to_string(i) + ".";
    AVBlockWeights& b = w.blocks[i];
    const bool gated = c.apply_gated_attention;
    for (auto [name, a] : {std::pair<const char*, AVAttentionWeights*>{"attn1", &b.attn1}, {"attn2", &b.attn2},
                           {"audio_attn1", &b.audio_attn1}, {"audio_attn2", &b.audio_attn2},
                           {"audio_to_video_attn", &b.audio_to_video_attn},
                           {"video_to_audio_attn", &b.video_to_audio_attn}})
      attention_linears(out, p + name, *a, gated);
    push_linear(out, p + "ff.net.0.proj", b.ff.proj_in);
    push_linear(out, p + "ff.net.2", b.ff.proj_out);
    push_linear(out, p + "audio_ff.net.0.proj", b.audio_ff.proj_in);
    push_linear(out, p + "audio_ff.net.2", b.audio_ff.proj_out);
  }
  return out;
}

NamedFields av_block_fields(AVBlockWeights& b) {
  NamedFields f;
  f.emplace_back("scale_shift_table", &b.scale_shift_table);
  f.emplace_back("audio_scale_shift_table", &b.audio_scale_shift_table);
  f.emplace_back("scale_shift_table_a2v_ca_video", &b.scale_shift_table_a2v_ca_video);
  f.emplace_back("scale_shift_table_a2v_ca_audio", &b.scale_shift_table_a2v_ca_audio);
  f.emplace_back("prompt_scale_shift_table", &b.prompt_scale_shift_table);
  f.emplace_back("audio_prompt_scale_shift_table", &b.audio_prompt_scale_shift_table);
  attention_fields(f, "attn1", b.attn1);
  attention_fields(f, "attn2", b.attn2);
  attention_fields(f, "audio_attn1", b.audio_attn1);
  attention_fields(f, "audio_attn2", b.audio_attn2);
  attention_fields(f, "audio_to_video_attn", b.audio_to_video_attn);
  attention_fields(f, "video_to_audio_attn", b.video_to_audio_attn);
  for (auto [name, ff] : {std::pair<const char*, AVFeedForwardWeights*>{"ff", &b.ff}, {"audio_ff", &b.audio_ff}}) {
    f.emplace_back(std::string(name) + ".net.0.proj.weight", &ff->proj_in.weight);
    f.emplace_back(std::string(name) + ".net.0.proj.bias", &ff->proj_in.bias);
    f.emplace_back(std::string(name) + ".net.2.weight", &ff->proj_out.weight);
    f.emplace_back(std::string(name) + ".net.2.bias", &ff->proj_out.bias);
  }
  return f;
}

AVTransformerWeights load_av_transformer(const ff::io::SafetensorsFile& file, const AVTransformerConfig& c,
                                         const std::string& prefix, at::Device device,
                                         std::optional<at::ScalarType> dtype) {
  using ff::io::CheckpointError;
  AVTransformerWeights w;
  ff::layers::load_slots(av_transformer_slots(w, c, prefix), [&](const std::string& name,
                                                                const std::vector<int64_t>& shape) {
    const ff::io::TensorInfo* info = file.find(name);
    if (!info) throw CheckpointError(file.path() + ": missing tensor '" + name + "'");
    if (info->shape != shape)
      throw CheckpointError(file.path() + ": tensor '" + name + "' has shape " + ff::io::shape_string(info->shape) +
                            ", expected " + ff::io::shape_string(shape));
    if (!at::isFloatingType(info->scalar_type))
      throw CheckpointError(file.path() + ": tensor '" + name + "' has dtype " + info->dtype +
                            ", expected a floating type");
    at::Tensor t = file.view(name);
    return dtype ? t.to(device, *dtype) : t.to(device);
  });
  return w;
}

}  // namespace ff::ltx2
