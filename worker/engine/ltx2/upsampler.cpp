#include "worker/engine/ltx2/upsampler.hpp"

#include <cmath>
#include <set>
#include <stdexcept>

#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::ltx2 {
namespace {

using layers::WeightInit;
using layers::WeightSlot;

constexpr int64_t kGroups = 32;    // torch.nn.GroupNorm(32, channels)
constexpr double kGroupNormEps = 1e-5;  // its default eps

void conv_slots(std::vector<WeightSlot>& out, UpsamplerConv& c, const std::string& name,
                std::vector<int64_t> weight_shape) {
  int64_t fan_in = 1;
  for (size_t i = 1; i < weight_shape.size(); ++i) fan_in *= weight_shape[i];
  const int64_t out_ch = weight_shape[0];
  out.push_back({name + ".weight", std::move(weight_shape), WeightInit::normal(1.0 / std::sqrt(double(fan_in))), &c.weight});
  out.push_back({name + ".bias", {out_ch}, WeightInit::normal(0.02), &c.bias});
}

void norm_slots(std::vector<WeightSlot>& out, UpsamplerNorm& n, const std::string& name, int64_t ch) {
  out.push_back({name + ".weight", {ch}, WeightInit::constant(1.0), &n.weight});
  out.push_back({name + ".bias", {ch}, WeightInit::constant(0.0), &n.bias});
}

void block_slots(std::vector<WeightSlot>& out, UpsamplerResBlock& b, const std::string& name, int64_t mid) {
  conv_slots(out, b.conv1, name + ".conv1", {mid, mid, 3, 3, 3});
  norm_slots(out, b.norm1, name + ".norm1", mid);
  conv_slots(out, b.conv2, name + ".conv2", {mid, mid, 3, 3, 3});
  norm_slots(out, b.norm2, name + ".norm2", mid);
}

at::Tensor conv3d(const at::Tensor& x, const UpsamplerConv& c) {
  return at::conv3d(x, c.weight, c.bias, {1, 1, 1}, {1, 1, 1});
}

at::Tensor group_norm(const at::Tensor& x, const UpsamplerNorm& n) {
  return at::group_norm(x, kGroups, n.weight, n.bias, kGroupNormEps);
}

at::Tensor res_block(const at::Tensor& x, const UpsamplerResBlock& b) {
  at::Tensor h = at::silu(group_norm(conv3d(x, b.conv1), b.norm1));
  h = group_norm(conv3d(h, b.conv2), b.norm2);
  return at::silu(h + x);
}

// Per frame: Conv2d mid -> 4 mid, then "b (c p1 p2) h w -> b c (h p1) (w p2)" with p = 2, which
// is at::pixel_shuffle's channel order.
at::Tensor spatial_x2(const at::Tensor& x, const UpsamplerConv& c) {
  const int64_t b = x.size(0), ch = x.size(1), f = x.size(2), h = x.size(3), w = x.size(4);
  at::Tensor frames = x.permute({0, 2, 1, 3, 4}).reshape({b * f, ch, h, w});
  frames = at::pixel_shuffle(at::conv2d(frames, c.weight, c.bias, {1, 1}, {1, 1}), 2);
  return frames.reshape({b, f, ch, 2 * h, 2 * w}).permute({0, 2, 1, 3, 4}).contiguous();
}

}  // namespace

std::vector<WeightSlot> upsampler_slots(UpsamplerWeights& w, const UpsamplerConfig& c, const std::string& prefix) {
  const int64_t in = c.in_channels, mid = c.mid_channels;
  w.res_blocks.resize(static_cast<size_t>(c.num_blocks_per_stage));
  w.post_upsample_res_blocks.resize(static_cast<size_t>(c.num_blocks_per_stage));
  std::vector<WeightSlot> out;
  conv_slots(out, w.initial_conv, prefix + "initial_conv", {mid, in, 3, 3, 3});
  norm_slots(out, w.initial_norm, prefix + "initial_norm", mid);
  for (size_t i = 0; i < w.res_blocks.size(); ++i)
    block_slots(out, w.res_blocks[i], prefix + "res_blocks." + std::to_string(i), mid);
  if (c.rational_resampler) {
    conv_slots(out, w.upsample_conv, prefix + "upsampler.conv", {4 * mid, mid, 3, 3});
    out.push_back({prefix + "upsampler.blur_down.kernel", {1, 1, 5, 5}, WeightInit::constant(1.0 / 25.0),
                   &w.blur_kernel});
  } else {
    conv_slots(out, w.upsample_conv, prefix + "upsampler.0", {4 * mid, mid, 3, 3});
  }
  for (size_t i = 0; i < w.post_upsample_res_blocks.size(); ++i)
    block_slots(out, w.post_upsample_res_blocks[i], prefix + "post_upsample_res_blocks." + std::to_string(i), mid);
  conv_slots(out, w.final_conv, prefix + "final_conv", {in, mid, 3, 3, 3});
  return out;
}

UpsamplerWeights load_upsampler_weights(const io::SafetensorsFile& file, const UpsamplerConfig& config,
                                        at::Device device, at::ScalarType dtype, const std::string& prefix) {
  UpsamplerWeights w;
  layers::load_slots(upsampler_slots(w, config, prefix), layers::file_fetch(file, device, dtype));
  return w;
}

Upsampler load_upsampler(const std::string& path, at::Device device, at::ScalarType dtype) {
  const auto file = io::SafetensorsFile::open(path);
  Upsampler u;
  u.config = upsampler_config_from_json(config_from_metadata(file->metadata(), path), path + " config");
  u.weights = load_upsampler_weights(*file, u.config, device, dtype);
  // A tensor the config does not explain means the file and its config disagree (e.g. the other
  // key variant of the x2 conv): refuse rather than run a different network.
  std::set<std::string> expected;
  for (const auto& s : upsampler_slots(u.weights, u.config)) expected.insert(s.name);
  for (const auto& t : file->tensors())
    if (!expected.count(t.name))
      throw io::CheckpointError(path + ": unexpected tensor '" + t.name + "' for the upsampler config");
  return u;
}

std::vector<std::vector<std::string>> upsampler_stage_prefixes(const UpsamplerConfig& c, const std::string& prefix) {
  std::vector<std::vector<std::string>> out;
  out.push_back({prefix + "initial_conv.", prefix + "initial_norm."});
  for (int64_t i = 0; i < c.num_blocks_per_stage; ++i) out.push_back({prefix + "res_blocks." + std::to_string(i) + "."});
  out.push_back({prefix + "upsampler."});
  for (int64_t i = 0; i < c.num_blocks_per_stage; ++i)
    out.push_back({prefix + "post_upsample_res_blocks." + std::to_string(i) + "."});
  out.push_back({prefix + "final_conv."});
  return out;
}

at::Tensor upsampler_forward(const at::Tensor& latent, const Upsampler& upsampler, const StageHooks& hooks) {
  const auto& c = upsampler.config;
  const auto& w = upsampler.weights;
  if (latent.dim() != 5 || latent.size(1) != c.in_channels)
    throw std::invalid_argument("upsampler: latent must be [B, " + std::to_string(c.in_channels) +
                                ", F, H, W], got " + io::shape_string(latent.sizes()));
  int stage = 0;
  hooks.begin(stage);
  if (latent.scalar_type() != w.initial_conv.weight.scalar_type()) {
    hooks.end(stage);
    throw std::invalid_argument("upsampler: latent dtype differs from the weights' dtype");
  }
  at::Tensor x = at::silu(group_norm(conv3d(latent, w.initial_conv), w.initial_norm));
  hooks.end(stage++);
  auto run = [&](auto&& f) {
    hooks.begin(stage);
    x = f(x);
    hooks.end(stage++);
  };
  for (const auto& b : w.res_blocks) run([&](const at::Tensor& h) { return res_block(h, b); });
  run([&](const at::Tensor& h) { return spatial_x2(h, w.upsample_conv); });
  for (const auto& b : w.post_upsample_res_blocks) run([&](const at::Tensor& h) { return res_block(h, b); });
  run([&](const at::Tensor& h) { return conv3d(h, w.final_conv); });
  return x;
}

at::Tensor upsample_video_latent(const at::Tensor& latent, const Upsampler& upsampler,
                                 const at::Tensor& per_channel_mean, const at::Tensor& per_channel_std,
                                 const StageHooks& hooks) {
  const int64_t ch = upsampler.config.in_channels;
  if (per_channel_mean.numel() != ch || per_channel_std.numel() != ch)
    throw std::invalid_argument("upsample_video_latent: per-channel statistics must have " + std::to_string(ch) +
                                " entries");
  const auto opts = latent.options();
  const at::Tensor mean = per_channel_mean.reshape({1, ch, 1, 1, 1}).to(opts);
  const at::Tensor std = per_channel_std.reshape({1, ch, 1, 1, 1}).to(opts);
  at::Tensor x = latent * std + mean;
  x = upsampler_forward(x, upsampler, hooks);
  return (x - mean) / std;
}

}  // namespace ff::ltx2
