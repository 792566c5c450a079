#include "worker/engine/ltx2/audio_decoder.hpp"

#include <cmath>
#include <stdexcept>

#include "worker/engine/layers/layers.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::ltx2 {
namespace {

constexpr double kPixelNormEps = 1e-6;  // ltx-core build_normalization_layer(PIXEL)

void conv_slots(std::vector<layers::WeightSlot>& out, AudioConv& conv, const std::string& name, int64_t co,
                int64_t ci, int64_t k) {
  const double std = 1.0 / std::sqrt(static_cast<double>(ci * k * k));
  out.push_back({name + ".conv.weight", {co, ci, k, k}, layers::WeightInit::normal(std), &conv.weight});
  out.push_back({name + ".conv.bias", {co}, layers::WeightInit::constant(0.0), &conv.bias});
}

void block_slots(std::vector<layers::WeightSlot>& out, AudioResBlock& b, const std::string& name, int64_t ci,
                 int64_t co) {
  conv_slots(out, b.conv1, name + ".conv1", co, ci, 3);
  conv_slots(out, b.conv2, name + ".conv2", co, co, 3);
  if (ci != co) conv_slots(out, b.nin_shortcut, name + ".nin_shortcut", co, ci, 1);
}

at::Tensor as(const at::Tensor& t, const at::Tensor& like) {
  return t.defined() ? t.to(like.device(), like.scalar_type()) : t;
}

// CausalConv2d with causality on height (time): pad (kh-1) rows before, (kw-1) split on width.
at::Tensor causal_conv(const at::Tensor& x, const AudioConv& c) {
  const int64_t kh = c.weight.size(2), kw = c.weight.size(3);
  const int64_t left = (kw - 1) / 2, right = (kw - 1) - left;
  at::Tensor padded = (kh > 1 || kw > 1) ? at::constant_pad_nd(x, {left, right, kh - 1, 0}, 0.0) : x;
  return at::conv2d(padded, as(c.weight, x), as(c.bias, x));
}

at::Tensor norm_silu(const at::Tensor& x) { return at::silu(layers::pixel_norm(x, 1, kPixelNormEps)); }

at::Tensor res_block(const at::Tensor& x, const AudioResBlock& b) {
  at::Tensor h = causal_conv(norm_silu(x), b.conv1);
  h = causal_conv(norm_silu(h), b.conv2);
  const at::Tensor skip = b.nin_shortcut.weight.defined() ? causal_conv(x, b.nin_shortcut) : x;
  return skip + h;
}

// Nearest x2 on both axes, conv, then drop the first time row (undoes the causal padding).
at::Tensor upsample(const at::Tensor& x, const AudioConv& conv) {
  const int64_t B = x.size(0), C = x.size(1), T = x.size(2), F = x.size(3);
  at::Tensor up = x.unsqueeze(3).unsqueeze(5).expand({B, C, T, 2, F, 2}).reshape({B, C, 2 * T, 2 * F});
  return causal_conv(up, conv).slice(2, 1);
}

}  // namespace

std::vector<layers::WeightSlot> audio_decoder_slots(AudioDecoderWeights& w, const AudioDecoderConfig& c,
                                                   const std::string& decoder_prefix,
                                                   const std::string& statistics_prefix) {
  std::vector<layers::WeightSlot> out;
  out.push_back({statistics_prefix + "mean-of-means", {c.ch}, layers::WeightInit::constant(0.0), &w.mean_of_means});
  out.push_back({statistics_prefix + "std-of-means", {c.ch}, layers::WeightInit::constant(1.0), &w.std_of_means});
  const int64_t base = c.base_channels();
  conv_slots(out, w.conv_in, decoder_prefix + "conv_in", base, c.z_channels, 3);
  block_slots(out, w.mid_block_1, decoder_prefix + "mid.block_1", base, base);
  block_slots(out, w.mid_block_2, decoder_prefix + "mid.block_2", base, base);
  w.up.assign(static_cast<size_t>(c.levels()), {});
  int64_t block_in = base;
  for (int64_t level = c.levels() - 1; level >= 0; --level) {
    auto& L = w.up[static_cast<size_t>(level)];
    const std::string p = decoder_prefix + "up." + std::to_string(level);
    const int64_t block_out = c.level_channels(level);
    L.blocks.resize(static_cast<size_t>(c.num_res_blocks + 1));
    for (size_t j = 0; j < L.blocks.size(); ++j) {
      block_slots(out, L.blocks[j], p + ".block." + std::to_string(j), block_in, block_out);
      block_in = block_out;
    }
    if (level != 0) conv_slots(out, L.upsample, p + ".upsample.conv", block_in, block_in, 3);
  }
  conv_slots(out, w.conv_out, decoder_prefix + "conv_out", c.out_ch, block_in, 3);
  return out;
}

AudioDecoderModel load_audio_decoder(const io::SafetensorsFile& file, at::Device device, at::ScalarType dtype) {
  AudioDecoderModel m;
  const json::Json cfg = config_from_metadata(file.metadata(), file.path());
  m.config = audio_decoder_config_from_json(config_section(cfg, "audio_vae", file.path()),
                                            file.path() + " config.audio_vae");
  layers::load_slots(audio_decoder_slots(m.weights, m.config), layers::file_fetch(file, device, dtype));
  return m;
}

at::Tensor audio_tokens_to_latent(const at::Tensor& tokens, int64_t z_channels) {
  if (tokens.dim() != 3 || z_channels <= 0 || tokens.size(2) % z_channels != 0)
    throw std::invalid_argument("audio tokens must be [B, T, z*F] with z = " + std::to_string(z_channels) +
                                ", got " + io::shape_string(tokens.sizes()));
  const int64_t B = tokens.size(0), T = tokens.size(1), F = tokens.size(2) / z_channels;
  return tokens.reshape({B, T, z_channels, F}).permute({0, 2, 1, 3}).contiguous();
}

std::vector<std::vector<std::string>> audio_decoder_stage_prefixes(const AudioDecoderConfig& c,
                                                                   const std::string& decoder_prefix) {
  std::vector<std::vector<std::string>> out = {
      {decoder_prefix + "conv_in."}, {decoder_prefix + "mid.block_1."}, {decoder_prefix + "mid.block_2."}};
  for (int64_t level = c.levels() - 1; level >= 0; --level)
    out.push_back({decoder_prefix + "up." + std::to_string(level) + "."});
  out.push_back({decoder_prefix + "conv_out."});
  return out;
}

at::Tensor decode_audio_latent(const AudioDecoderModel& m, const at::Tensor& latent, const StageHooks& hooks) {
  const auto& c = m.config;
  const auto& w = m.weights;
  if (latent.dim() != 4 || latent.size(1) != c.z_channels)
    throw std::invalid_argument("audio decoder: latent must be [B, " + std::to_string(c.z_channels) +
                                ", T, F], got " + io::shape_string(latent.sizes()));
  const int64_t B = latent.size(0), Z = latent.size(1), T = latent.size(2), F = latent.size(3);
  if (Z * F != w.std_of_means.numel() || Z * F != w.mean_of_means.numel())
    throw std::invalid_argument("audio decoder: the per-channel statistics have " +
                                std::to_string(w.std_of_means.numel()) + " entries but the latent has z*F = " +
                                std::to_string(Z * F) + " (" + io::shape_string(latent.sizes()) + ")");

  // Un-normalize as ltx-core does: patchify b c t f -> b t (c f), x * std + mean, unpatchify.
  at::Tensor tokens = latent.permute({0, 2, 1, 3}).reshape({B, T, Z * F});
  tokens = tokens * as(w.std_of_means, latent) + as(w.mean_of_means, latent);
  at::Tensor x = tokens.reshape({B, T, Z, F}).permute({0, 2, 1, 3}).contiguous();

  int stage = 0;
  auto run = [&](auto&& f) {
    hooks.begin(stage);
    x = f(x);
    hooks.end(stage++);
  };
  run([&](const at::Tensor& h) { return causal_conv(h, w.conv_in); });
  run([&](const at::Tensor& h) { return res_block(h, w.mid_block_1); });
  run([&](const at::Tensor& h) { return res_block(h, w.mid_block_2); });
  for (int64_t level = c.levels() - 1; level >= 0; --level) {
    run([&](at::Tensor h) {
      const auto& L = w.up[static_cast<size_t>(level)];
      for (const auto& b : L.blocks) h = res_block(h, b);
      if (level != 0) h = upsample(h, L.upsample);
      return h;
    });
  }
  run([&](const at::Tensor& h) { return causal_conv(norm_silu(h), w.conv_out); });

  // Crop, then zero-pad, to the reference's target shape.
  const int64_t target_t = std::max<int64_t>(T * kAudioLatentDownsample - (kAudioLatentDownsample - 1), 1);
  const int64_t target_f = c.mel_bins > 0 ? c.mel_bins : F;
  x = x.slice(1, 0, c.out_ch).slice(2, 0, std::min(x.size(2), target_t)).slice(3, 0, std::min(x.size(3), target_f));
  const int64_t pad_t = target_t - x.size(2), pad_f = target_f - x.size(3);
  if (pad_t > 0 || pad_f > 0) x = at::constant_pad_nd(x, {0, std::max<int64_t>(pad_f, 0), 0, std::max<int64_t>(pad_t, 0)}, 0.0);
  return x.contiguous();
}

}  // namespace ff::ltx2
