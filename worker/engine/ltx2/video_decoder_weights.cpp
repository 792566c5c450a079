#include "worker/engine/ltx2/video_decoder_weights.hpp"

#include <cmath>
#include <stdexcept>

#include "worker/engine/ltx2/ltx2_json.hpp"

namespace ff::ltx2 {
namespace {

using ff::layers::WeightInit;
using ff::layers::WeightSlot;

constexpr const char* kDecoderPrefix = "vae.decoder.";
constexpr const char* kStatsPrefix = "vae.per_channel_statistics.";

void add_conv(std::vector<WeightSlot>& s, VaeConv3d& cv, const std::string& name, int64_t out, int64_t in,
              double gain = 1.0) {
  s.push_back({name + ".conv.weight", {out, in, 3, 3, 3}, WeightInit::normal(gain / std::sqrt(27.0 * double(in))),
               &cv.weight});
  s.push_back({name + ".conv.bias", {out}, WeightInit::constant(0.0), &cv.bias});
}

// Slots of one block with names `prefix` + the relative name; resizes w.resnets.
void add_block(std::vector<WeightSlot>& s, VideoDecoderBlockWeights& w, const VideoDecoderBlock& b,
               const std::string& prefix) {
  if (b.is_upsample()) {
    w.resnets.clear();
    add_conv(s, w.conv, prefix + "conv", b.conv_out_channels(), b.in_channels);
    return;
  }
  w.resnets.resize(static_cast<size_t>(b.num_layers));
  for (size_t j = 0; j < w.resnets.size(); ++j) {
    const std::string r = prefix + "res_blocks." + std::to_string(j) + ".";
    add_conv(s, w.resnets[j].conv1, r + "conv1", b.in_channels, b.in_channels);
    add_conv(s, w.resnets[j].conv2, r + "conv2", b.in_channels, b.in_channels, 0.5);
  }
}

}  // namespace

std::vector<WeightSlot> video_decoder_slots(VideoDecoderWeights& w, const VideoDecoderConfig& c) {
  std::vector<WeightSlot> s;
  const std::string stats = kStatsPrefix, dec = kDecoderPrefix;
  s.push_back({stats + "mean-of-means", {c.latent_channels}, WeightInit::constant(0.0), &w.mean_of_means});
  s.push_back({stats + "std-of-means", {c.latent_channels}, WeightInit::constant(1.0), &w.std_of_means});
  add_conv(s, w.conv_in, dec + "conv_in", c.bottleneck_channels(), c.latent_channels);
  w.blocks.resize(c.blocks.size());
  for (size_t i = 0; i < c.blocks.size(); ++i)
    add_block(s, w.blocks[i], c.blocks[i], dec + "up_blocks." + std::to_string(i) + ".");
  add_conv(s, w.conv_out, dec + "conv_out", c.conv_out_channels(), c.final_channels(), 0.5);
  return s;
}

VideoDecoderConfig video_decoder_config_from_checkpoint(const ff::io::Checkpoint& ckpt) {
  const json::Json config = config_from_metadata(ckpt.metadata(), ckpt.source());
  return video_decoder_config_from_json(config_section(config, "vae", ckpt.source()),
                                        ckpt.source() + ": config.vae");
}

VideoDecoderWeights load_video_decoder(const ff::io::Checkpoint& ckpt, const VideoDecoderConfig& c,
                                       at::Device device, at::ScalarType dtype) {
  VideoDecoderWeights w;
  const auto slots = video_decoder_slots(w, c);
  ff::layers::load_slots(slots, [&](const std::string& name, const std::vector<int64_t>& shape) {
    return ckpt.get(name, shape).to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
  });
  return w;
}

ff::layers::NamedFields video_decoder_block_fields(VideoDecoderBlockWeights& w) {
  ff::layers::NamedFields out;
  auto add = [&out](const std::string& name, VaeConv3d& cv) {
    out.emplace_back(name + ".conv.weight", &cv.weight);
    out.emplace_back(name + ".conv.bias", &cv.bias);
  };
  for (size_t j = 0; j < w.resnets.size(); ++j) {
    const std::string r = "res_blocks." + std::to_string(j) + ".";
    add(r + "conv1", w.resnets[j].conv1);
    add(r + "conv2", w.resnets[j].conv2);
  }
  add("conv", w.conv);
  return out;
}

ff::engine::rt::BlockTensors video_decoder_block_tensors(const VideoDecoderBlockWeights& w) {
  return ff::layers::block_tensors_of(w, video_decoder_block_fields);
}

VideoDecoderBlockWeights video_decoder_block_from(const ff::engine::rt::BlockTensors& b, const VideoDecoderConfig& c,
                                                  size_t i) {
  if (i >= c.blocks.size())
    throw std::out_of_range("video decoder: block " + std::to_string(i) + " of " + std::to_string(c.blocks.size()));
  VideoDecoderBlockWeights w;
  std::vector<WeightSlot> needed;
  add_block(needed, w, c.blocks[i], "");
  for (const auto& s : needed) {
    if (!b.has(s.name))
      throw std::invalid_argument("video decoder block up_blocks." + std::to_string(i) + ": missing tensor '" +
                                  s.name + "'");
    *s.target = b.get(s.name);
  }
  return w;
}

int64_t video_decoder_weight_bytes(const VideoDecoderWeights& w) {
  int64_t n = 0;
  auto add = [&n](const at::Tensor& t) {
    if (t.defined()) n += static_cast<int64_t>(t.nbytes());
  };
  auto conv = [&](const VaeConv3d& cv) {
    add(cv.weight);
    add(cv.bias);
  };
  add(w.mean_of_means);
  add(w.std_of_means);
  conv(w.conv_in);
  conv(w.conv_out);
  for (const auto& b : w.blocks) {
    conv(b.conv);
    for (const auto& r : b.resnets) {
      conv(r.conv1);
      conv(r.conv2);
    }
  }
  return n;
}

}  // namespace ff::ltx2
