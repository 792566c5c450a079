#include "worker/engine/video/transformer.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

#include "worker/engine/runtime/torch_version.hpp"

namespace ff::video {
namespace {

at::Tensor linear(const at::Tensor& x, const LinearWeights& l) {
  return at::linear(x, l.weight, l.bias.defined() ? c10::optional<at::Tensor>(l.bias) : c10::nullopt);
}

// x * rsqrt(mean(x^2) + eps) (* weight), computed in float32, returned in x's dtype.
at::Tensor rms_norm(const at::Tensor& x, double eps, const at::Tensor& weight = {}) {
  auto xf = x.to(at::kFloat);
  auto y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (weight.defined()) y = y * weight.to(at::kFloat);
  return y.to(x.scalar_type());
}

at::Tensor rotate_half(const at::Tensor& x) {
  auto halves = x.chunk(2, -1);
  return at::cat({-halves[1], halves[0]}, -1);
}

// [B, N, D] -> [B, H, N, Dh]
at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  return x.view({x.size(0), x.size(1), heads, -1}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor& x) {
  auto t = x.transpose(1, 2).contiguous();
  return t.view({t.size(0), t.size(1), -1});
}

at::Tensor attention_block(const AttentionWeights& w, const TransformerConfig& c,
                           const at::Tensor& x, const at::Tensor& kv, const RopeTables* rope) {
  auto q = rms_norm(linear(x, w.to_q), c.norm_eps, w.q_norm);
  auto k = rms_norm(linear(kv, w.to_k), c.norm_eps, w.k_norm);
  auto v = linear(kv, w.to_v);
  q = split_heads(q, c.num_attention_heads);
  k = split_heads(k, c.num_attention_heads);
  v = split_heads(v, c.num_attention_heads);
  if (rope) {
    q = q * rope->cos + rotate_half(q) * rope->sin;
    k = k * rope->cos + rotate_half(k) * rope->sin;
  }
  return linear(merge_heads(attention(q, k, v)), w.to_out);
}

void check_dim(const at::Tensor& t, int64_t dims, const char* what) {
  if (t.dim() != dims)
    throw std::invalid_argument(std::string(what) + ": expected " + std::to_string(dims) +
                                " dims, got " + std::to_string(t.dim()));
}

}  // namespace

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
#if FF_TORCH_AT_LEAST(2, 0)
  return at::scaled_dot_product_attention(q, k, v);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  auto scores = at::matmul(q, k.transpose(-2, -1)).to(at::kFloat) * scale;
  return at::matmul(scores.softmax(-1).to(v.scalar_type()), v);
#endif
}

at::Tensor patchify(const at::Tensor& latent, int64_t pt, int64_t p) {
  check_dim(latent, 5, "patchify: latent");
  const int64_t b = latent.size(0), ch = latent.size(1), f = latent.size(2), h = latent.size(3),
                w = latent.size(4);
  if (f % pt || h % p || w % p)
    throw std::invalid_argument("patchify: latent " + std::to_string(f) + "x" + std::to_string(h) +
                                "x" + std::to_string(w) + " is not a multiple of patch " +
                                std::to_string(pt) + "x" + std::to_string(p) + "x" + std::to_string(p));
  auto x = latent.reshape({b, ch, f / pt, pt, h / p, p, w / p, p});
  x = x.permute({0, 2, 4, 6, 1, 3, 5, 7});
  return x.reshape({b, (f / pt) * (h / p) * (w / p), ch * pt * p * p});
}

at::Tensor unpatchify(const at::Tensor& tokens, int64_t ch, const LatentGrid& g, int64_t pt,
                      int64_t p) {
  check_dim(tokens, 3, "unpatchify: tokens");
  const int64_t b = tokens.size(0);
  const int64_t fp = g.frames / pt, hp = g.height / p, wp = g.width / p;
  if (tokens.size(1) != fp * hp * wp || tokens.size(2) != ch * pt * p * p)
    throw std::invalid_argument("unpatchify: tokens do not match the latent grid");
  auto x = tokens.reshape({b, fp, hp, wp, ch, pt, p, p});
  x = x.permute({0, 4, 1, 5, 2, 6, 3, 7});
  return x.reshape({b, ch, g.frames, g.height, g.width});
}

RopeTables rope_tables(const TransformerConfig& c, const LatentGrid& g, at::Device device,
                       at::ScalarType dtype) {
  const int64_t pairs = c.attention_head_dim / 2;
  const int64_t ph = pairs / 3, pw = pairs / 3, pt = pairs - ph - pw;
  const int64_t fp = g.frames / c.patch_size_t, hp = g.height / c.patch_size,
                wp = g.width / c.patch_size;
  auto f64 = at::TensorOptions().dtype(at::kDouble);
  // Pixel-space coordinate of each token's patch origin, normalised to [0, 1) by max_pos.
  auto coord = [&](int64_t n, double step, int64_t max_pos) {
    return at::arange(n, f64) * (step / static_cast<double>(max_pos));
  };
  auto t = coord(fp, double(c.patch_size_t * g.temporal_scale), c.positional_embedding_max_pos[0]);
  auto y = coord(hp, double(c.patch_size * g.spatial_scale), c.positional_embedding_max_pos[1]);
  auto x = coord(wp, double(c.patch_size * g.spatial_scale), c.positional_embedding_max_pos[2]);
  // Frequencies per axis: (pi/2) * theta^u, u evenly spaced in [0, 1].
  auto freqs = [&](int64_t n) {
    auto u = n > 1 ? at::linspace(0.0, 1.0, n, f64) : at::zeros({1}, f64);
    return at::pow(c.positional_embedding_theta, u) * (M_PI / 2.0);
  };
  auto grid = at::meshgrid({t, y, x}, "ij");  // each [fp, hp, wp]
  auto at_ = grid[0].reshape({-1, 1}) * freqs(pt).view({1, -1});
  auto ah = grid[1].reshape({-1, 1}) * freqs(ph).view({1, -1});
  auto aw = grid[2].reshape({-1, 1}) * freqs(pw).view({1, -1});
  auto angles = at::cat({at_, ah, aw}, 1);       // [N, pairs]
  angles = at::cat({angles, angles}, 1);          // rotate-half layout
  auto opts = at::TensorOptions().dtype(dtype).device(device);
  return {angles.cos().to(opts), angles.sin().to(opts)};
}

TimestepModulation timestep_modulation(const TransformerGlobals& g, const TransformerConfig& c,
                                       const at::Tensor& sigma) {
  check_dim(sigma, 1, "timestep_modulation: sigma");
  const int64_t half = c.timestep_embedding_dim / 2;
  auto f32 = at::TensorOptions().dtype(at::kFloat).device(sigma.device());
  auto t = sigma.to(at::kFloat) * c.timestep_scale_multiplier;
  auto freqs = at::exp(at::arange(half, f32) * (-std::log(10000.0) / static_cast<double>(half)));
  auto args = t.view({-1, 1}) * freqs.view({1, -1});
  auto sinusoid = at::cat({args.cos(), args.sin()}, 1).to(g.time_linear_1.weight.scalar_type());
  auto emb = linear(at::silu(linear(sinusoid, g.time_linear_1)), g.time_linear_2);
  auto mod = linear(at::silu(emb), g.adaln).view({sigma.size(0), 6, -1});
  return {emb, mod};
}

at::Tensor embed_patches(const TransformerGlobals& g, const at::Tensor& tokens) {
  check_dim(tokens, 3, "embed_patches: tokens");
  return linear(tokens.to(g.patchify_proj.weight.scalar_type()), g.patchify_proj);
}

at::Tensor block_forward(const TransformerBlockWeights& w, const TransformerConfig& c,
                         const at::Tensor& hidden, const at::Tensor& context,
                         const TimestepModulation& mod, const RopeTables& rope) {
  auto m = (w.scale_shift_table.unsqueeze(0) + mod.block_mod).to(hidden.scalar_type());
  auto part = [&](int64_t i) { return m.select(1, i).unsqueeze(1); };  // [B, 1, D]
  auto x = hidden;
  auto h = rms_norm(x, c.norm_eps) * (1 + part(1)) + part(0);
  x = x + part(2) * attention_block(w.attn1, c, h, h, &rope);
  auto ctx = context.to(x.scalar_type());
  x = x + attention_block(w.attn2, c, rms_norm(x, c.norm_eps), ctx, nullptr);
  h = rms_norm(x, c.norm_eps) * (1 + part(4)) + part(3);
  auto ff = linear(at::silu(linear(h, w.ff_gate)) * linear(h, w.ff_up), w.ff_down);
  return x + part(5) * ff;
}

at::Tensor project_out(const TransformerGlobals& g, const TransformerConfig& c,
                       const at::Tensor& hidden, const TimestepModulation& mod) {
  auto m = (g.scale_shift_table.unsqueeze(0) + mod.embedded.unsqueeze(1)).to(hidden.scalar_type());
  auto shift = m.select(1, 0).unsqueeze(1), scale = m.select(1, 1).unsqueeze(1);
  return linear(rms_norm(hidden, c.norm_eps) * (1 + scale) + shift, g.proj_out);
}

at::Tensor transformer_forward(const TransformerWeights& w, const TransformerConfig& c,
                               const at::Tensor& tokens, const at::Tensor& context,
                               const at::Tensor& sigma, const RopeTables& rope) {
  check_dim(context, 3, "transformer_forward: context");
  if (context.size(2) != c.cross_attention_dim)
    throw std::invalid_argument("transformer_forward: context width " +
                                std::to_string(context.size(2)) + " != cross_attention_dim " +
                                std::to_string(c.cross_attention_dim));
  auto mod = timestep_modulation(w.globals, c, sigma);
  auto x = embed_patches(w.globals, tokens);
  for (const auto& b : w.blocks) x = block_forward(b, c, x, context, mod, rope);
  return project_out(w.globals, c, x, mod);
}

}  // namespace ff::video
