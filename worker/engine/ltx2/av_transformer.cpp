// Preparation (ltx-core transformer_args.py: patchify projection, per-token AdaLN, prompt AdaLN,
// A/V cross-attention AdaLN, RoPE tables) and output (model.py _process_output) of the
// audio-video transformer; the block itself is in av_block.cpp.
#include "worker/engine/ltx2/av_transformer.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "worker/engine/layers/layers.hpp"

namespace ff::ltx2 {
namespace {

namespace L = ff::layers;

constexpr double kMaxPeriod = 10000.0;

// ltx-core get_timestep_embedding(flip_sin_to_cos=True, downscale_freq_shift=0) of t [M]:
// [M, 256] float32 = [cos(t f), sin(t f)], f_i = exp(-ln(1e4) i / 128).
at::Tensor timestep_sinusoid(const at::Tensor& t) {
  const int64_t half = kTimestepChannels / 2;
  at::Tensor exponent = at::arange(half, t.options().dtype(at::kFloat)) * (-std::log(kMaxPeriod));
  exponent = exponent / half;
  at::Tensor emb = t.unsqueeze(1).to(at::kFloat) * at::exp(exponent).unsqueeze(0);
  return at::cat({at::cos(emb), at::sin(emb)}, -1);
}

struct AdaLNOut {
  at::Tensor out;       // [M, coef*D]
  at::Tensor embedded;  // [M, D]
};

// ltx-core AdaLayerNormSingle of flat timesteps t [M] (already scaled), in `dtype`.
AdaLNOut adaln_single(const AdaLNSingleWeights& a, const at::Tensor& t, at::ScalarType dtype) {
  at::Tensor h = L::linear(timestep_sinusoid(t).to(dtype), a.linear_1);
  at::Tensor embedded = L::linear(at::silu(h), a.linear_2);
  return {L::linear(at::silu(embedded), a.linear), embedded};
}

void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument("av_transformer: " + what);
}

std::string shape_of(const at::Tensor& t) {
  if (!t.defined()) return "undefined";
  std::string s = "[";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + "]";
}

// Shapes of one modality's input against the config.
void check_input(const ModalityInput& m, const char* name, int64_t in_channels, int64_t dim, int64_t axes) {
  const std::string n = name;
  require(m.latent.defined() && m.latent.dim() == 3 && m.latent.size(2) == in_channels,
          n + ".latent must be [B, N, " + std::to_string(in_channels) + "], got " + shape_of(m.latent));
  const int64_t b = m.latent.size(0), tokens = m.latent.size(1);
  require(m.sigma.defined() && m.sigma.numel() == b * tokens && m.sigma.size(0) == b,
          n + ".sigma must be [B, N] (per-token), got " + shape_of(m.sigma));
  require(m.step_sigma.defined() && (m.step_sigma.numel() == b || m.step_sigma.numel() == 1),
          n + ".step_sigma must be [B] (the step's sigma), got " + shape_of(m.step_sigma));
  require(m.positions.defined() && m.positions.dim() == 4 && m.positions.size(1) == axes &&
              m.positions.size(2) == tokens && m.positions.size(3) == 2 &&
              (m.positions.size(0) == b || m.positions.size(0) == 1),
          n + ".positions must be [B, " + std::to_string(axes) + ", N, 2], got " + shape_of(m.positions));
  require(m.context.defined() && m.context.dim() == 3 && m.context.size(0) == b && m.context.size(2) == dim,
          n + ".context must be [B, T, " + std::to_string(dim) + "], got " + shape_of(m.context));
}

struct StreamGlobals {
  const ff::layers::Linear& patchify;
  const AdaLNSingleWeights& adaln;
  const AdaLNSingleWeights& prompt_adaln;
  const AdaLNSingleWeights& cross_scale_shift;
  const AdaLNSingleWeights& cross_gate;
  int64_t dim, heads;
  const std::vector<int64_t>& max_pos;
};

AVStreamState prepare_stream(const StreamGlobals& g, const AVTransformerConfig& c, const ModalityInput& m,
                             const ModalityInput& other) {
  const auto dtype = m.latent.scalar_type();
  const int64_t b = m.latent.size(0);
  const double tsm = c.timestep_scale_multiplier;
  AVStreamState s;
  s.x = L::linear(m.latent, g.patchify);
  const at::Tensor per_token = m.sigma.reshape({b, -1});
  AdaLNOut t = adaln_single(g.adaln, (per_token * tsm).flatten(), dtype);
  s.timestep = t.out.view({b, -1, t.out.size(-1)});
  s.embedded_timestep = t.embedded.view({b, -1, t.embedded.size(-1)});
  const at::Tensor step = m.step_sigma.reshape({-1}).expand({b});
  if (c.has_prompt_adaln()) {
    AdaLNOut p = adaln_single(g.prompt_adaln, (step * tsm).flatten(), dtype);
    s.prompt_timestep = p.out.view({b, -1, p.out.size(-1)});
  }
  s.context = m.context;
  s.rope = rope_tables(m.positions, g.dim, g.heads, g.max_pos, c.positional_embedding_theta, c.double_precision_rope,
                       c.use_middle_indices_grid, dtype);
  // A/V cross-attention: time-only RoPE at the audio cross width, max_pos = the larger time max_pos.
  const std::vector<int64_t> cross_max{
      std::max(c.positional_embedding_max_pos[0], c.audio_positional_embedding_max_pos[0])};
  s.cross_rope = rope_tables(m.positions.narrow(1, 0, 1), c.audio_cross_attention_dim, g.heads, cross_max,
                             c.positional_embedding_theta, c.double_precision_rope, true, dtype);
  AdaLNOut ss = adaln_single(g.cross_scale_shift, (per_token * tsm).flatten(), dtype);
  s.cross_scale_shift_timestep = ss.out.view({b, -1, ss.out.size(-1)});
  // The gate is driven by the OTHER stream's step sigma, scaled by av_ca / timestep multiplier.
  const double av_factor = c.av_ca_timestep_scale_multiplier / tsm;
  const at::Tensor other_step = other.step_sigma.reshape({-1}).expand({b});
  AdaLNOut gate = adaln_single(g.cross_gate, (other_step * tsm * av_factor).flatten(), dtype);
  s.cross_gate_timestep = gate.out.view({b, -1, gate.out.size(-1)});
  return s;
}

at::Tensor output(const at::Tensor& table, const ff::layers::Linear& proj, double eps, const AVStreamState& s) {
  const auto dtype = s.x.scalar_type();
  at::Tensor shift = table.select(0, 0).to(dtype) + s.embedded_timestep;
  at::Tensor scale = table.select(0, 1).to(dtype) + s.embedded_timestep;
  at::Tensor x = L::layer_norm(s.x, eps);
  return L::linear(x * (1 + scale) + shift, proj);
}

}  // namespace

AVState av_prepare(const AVGlobals& g, const AVTransformerConfig& c, const ModalityInput& video,
                   const ModalityInput& audio) {
  check_input(video, "video", c.in_channels, c.inner_dim(), 3);
  check_input(audio, "audio", c.audio_in_channels, c.audio_inner_dim(), 1);
  require(video.latent.size(0) == audio.latent.size(0), "video and audio batch sizes differ");
  require(video.latent.scalar_type() == audio.latent.scalar_type(), "video and audio latents differ in dtype");
  const StreamGlobals vg{g.patchify_proj, g.adaln_single, g.prompt_adaln_single,
                         g.av_ca_video_scale_shift_adaln_single, g.av_ca_a2v_gate_adaln_single,
                         c.inner_dim(), c.num_attention_heads, c.positional_embedding_max_pos};
  const StreamGlobals ag{g.audio_patchify_proj, g.audio_adaln_single, g.audio_prompt_adaln_single,
                         g.av_ca_audio_scale_shift_adaln_single, g.av_ca_v2a_gate_adaln_single,
                         c.audio_inner_dim(), c.audio_num_attention_heads, c.audio_positional_embedding_max_pos};
  AVState s;
  s.video = prepare_stream(vg, c, video, audio);
  s.audio = prepare_stream(ag, c, audio, video);
  return s;
}

AVVelocity av_finish(const AVGlobals& g, const AVTransformerConfig& c, const AVState& s) {
  return {output(g.scale_shift_table, g.proj_out, c.norm_eps, s.video),
          output(g.audio_scale_shift_table, g.audio_proj_out, c.norm_eps, s.audio)};
}

AVVelocity av_transformer_forward(const AVTransformerWeights& w, const AVTransformerConfig& c,
                                  const ModalityInput& video, const ModalityInput& audio, const PassConfig& pass) {
  require(static_cast<int64_t>(w.blocks.size()) == c.num_layers,
          "weights have " + std::to_string(w.blocks.size()) + " blocks, config " + std::to_string(c.num_layers));
  AVState s = av_prepare(w.globals, c, video, audio);
  for (int64_t i = 0; i < c.num_layers; ++i) av_block_forward(w.blocks[static_cast<size_t>(i)], c, i, pass, s);
  return av_finish(w.globals, c, s);
}

at::Tensor to_denoised(const at::Tensor& x, const at::Tensor& velocity, const at::Tensor& sigma_per_token) {
  at::Tensor sigma = sigma_per_token.to(at::kFloat);
  if (sigma.dim() == 2) sigma = sigma.unsqueeze(-1);
  return (x.to(at::kFloat) - velocity.to(at::kFloat) * sigma).to(x.scalar_type());
}

}  // namespace ff::ltx2
