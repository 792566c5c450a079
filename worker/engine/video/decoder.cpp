#include "worker/engine/video/decoder.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ff::video {
namespace {

void add_conv(std::vector<WeightSlot>& s, Conv3dWeights& cw, const std::string& name, int64_t out,
              int64_t in, double std_scale = 1.0) {
  const double fan_in = double(in) * 27.0;
  s.push_back({name + ".weight", {out, in, 3, 3, 3}, WeightInit::normal(std_scale / std::sqrt(fan_in)),
               &cw.weight});
  s.push_back({name + ".bias", {out}, WeightInit::constant(0.0), &cw.bias});
}

at::Tensor conv(const at::Tensor& x, const Conv3dWeights& w) {
  return at::conv3d(x, w.weight, w.bias, {1, 1, 1}, {1, 1, 1});
}

// RMS over channels (dim 1), no weight; float32 math.
at::Tensor pixel_norm(const at::Tensor& x, double eps) {
  auto xf = x.to(at::kFloat);
  return (xf * at::rsqrt(xf.pow(2).mean(1, true) + eps)).to(x.scalar_type());
}

// [B, C*t*s*s, F, H, W] -> [B, C, F*t, H*s, W*s]
at::Tensor depth_to_space(const at::Tensor& x, int64_t t, int64_t s) {
  const int64_t b = x.size(0), c = x.size(1) / (t * s * s), f = x.size(2), h = x.size(3), w = x.size(4);
  auto y = x.reshape({b, c, t, s, s, f, h, w}).permute({0, 1, 5, 2, 6, 3, 7, 4});
  return y.reshape({b, c, f * t, h * s, w * s});
}

}  // namespace

std::vector<WeightSlot> decoder_slots(DecoderWeights& w, const DecoderConfig& c) {
  std::vector<WeightSlot> s;
  const std::string p = "decoder.";
  s.push_back({p + "per_channel_statistics.mean", {c.latent_channels}, WeightInit::constant(0.0), &w.latents_mean});
  s.push_back({p + "per_channel_statistics.std", {c.latent_channels}, WeightInit::constant(1.0), &w.latents_std});
  add_conv(s, w.conv_in, p + "conv_in", c.block_out_channels[0], c.latent_channels);
  w.levels.resize(c.block_out_channels.size());
  for (size_t i = 0; i < w.levels.size(); ++i) {
    const std::string l = p + "up_blocks." + std::to_string(i);
    const int64_t ch = c.block_out_channels[i];
    add_conv(s, w.levels[i].res_conv1, l + ".res.conv1", ch, ch);
    add_conv(s, w.levels[i].res_conv2, l + ".res.conv2", ch, ch, 0.5);
    const int64_t f = c.temporal_upsample[i] * c.spatial_upsample[i] * c.spatial_upsample[i];
    add_conv(s, w.levels[i].upsample, l + ".upsample.conv", c.level_out(i) * f, ch);
  }
  add_conv(s, w.conv_out, p + "conv_out", 3, c.level_out(w.levels.size() - 1));
  return s;
}

at::Tensor decoder_input(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& latent) {
  if (latent.dim() != 5 || latent.size(0) != 1 || latent.size(1) != c.latent_channels)
    throw std::invalid_argument("decode_latent: expected latent [1, " + std::to_string(c.latent_channels) +
                                ", F, H, W], got " + std::to_string(latent.dim()) + " dims");
  const auto dtype = w.conv_in.weight.scalar_type();
  const auto device = w.conv_in.weight.device();
  auto stats = [&](const at::Tensor& t) { return t.to(device, at::kFloat).view({1, -1, 1, 1, 1}); };
  auto x = (latent.to(device, at::kFloat) * stats(w.latents_std) + stats(w.latents_mean)).to(dtype);
  return conv(x, w.conv_in);
}

at::Tensor decoder_level(const DecoderLevelWeights& lw, const DecoderConfig& c, size_t level, const at::Tensor& x) {
  if (level >= c.block_out_channels.size())
    throw std::out_of_range("decoder_level: level " + std::to_string(level) + " of " +
                            std::to_string(c.block_out_channels.size()));
  auto r = conv(at::silu(pixel_norm(x, c.norm_eps)), lw.res_conv1);
  auto y = x + conv(at::silu(pixel_norm(r, c.norm_eps)), lw.res_conv2);
  const int64_t t = c.temporal_upsample[level];
  y = depth_to_space(conv(y, lw.upsample), t, c.spatial_upsample[level]);
  if (t > 1) y = y.narrow(2, t - 1, y.size(2) - (t - 1));
  return y;
}

at::Tensor decoder_output(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& x) {
  auto rgb = conv(at::silu(pixel_norm(x, c.norm_eps)), w.conv_out).to(at::kFloat);  // [1,3,F,H,W]
  auto u8 = ((rgb.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(at::kByte);
  return u8.squeeze(0).permute({1, 2, 3, 0}).contiguous().to(at::kCPU);
}

at::Tensor decode_latent(const DecoderWeights& w, const DecoderConfig& c, const at::Tensor& latent) {
  auto x = decoder_input(w, c, latent);
  for (size_t i = 0; i < w.levels.size(); ++i) x = decoder_level(w.levels[i], c, i, x);
  return decoder_output(w, c, x);
}

}  // namespace ff::video
