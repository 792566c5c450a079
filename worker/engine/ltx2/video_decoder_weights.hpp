// Weights of LTX-2.3's video VAE decoder under the published checkpoint names:
//   vae.per_channel_statistics.{mean-of-means,std-of-means}        [latent_channels]
//   vae.decoder.conv_in.conv.{weight,bias}                          [bottleneck, latent, 3,3,3]
//   vae.decoder.up_blocks.<i>.res_blocks.<j>.conv{1,2}.conv.{weight,bias}   (res_x blocks)
//   vae.decoder.up_blocks.<i>.conv.conv.{weight,bias}                      (compress_* blocks)
//   vae.decoder.conv_out.conv.{weight,bias}                         [out*patch^2, final, 3,3,3]
// (84 decoder tensors + 2 statistics for LTX-2.3.) Block <i> is in execution order (see
// VideoDecoderConfig::blocks). The decoder's blocks are its streamable units: each travels as one
// rt::BlockTensors named relative to "vae.decoder.up_blocks.<i>." (e.g. "res_blocks.0.conv1.conv.weight");
// the statistics, conv_in and conv_out stay resident.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/ltx2/video_decoder_config.hpp"
#include "worker/engine/runtime/block_layout.hpp"
#include "worker/engine/layers/block_fields.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

// One 3x3x3 convolution: weight [out, in, 3, 3, 3], bias [out].
struct VaeConv3d {
  at::Tensor weight, bias;
};

struct VaeResnetWeights {
  VaeConv3d conv1, conv2;  // each [C, C, 3, 3, 3]
};

// One decoder block: res_x uses `resnets` (num_layers of them), compress_* uses `conv`.
struct VideoDecoderBlockWeights {
  std::vector<VaeResnetWeights> resnets;
  VaeConv3d conv;
};

struct VideoDecoderWeights {
  at::Tensor mean_of_means, std_of_means;  // [latent_channels]
  VaeConv3d conv_in, conv_out;
  std::vector<VideoDecoderBlockWeights> blocks;  // one per config block, execution order
};

// Every slot of `w` under its published name (resizes w.blocks and their resnets to `c`).
// Inits are for random test weights (normal / sqrt(fan_in), zero biases, unit std).
std::vector<ff::layers::WeightSlot> video_decoder_slots(VideoDecoderWeights& w, const VideoDecoderConfig& c);

// The decoder config from the checkpoint's metadata ("config" -> "vae"); errors name the source.
VideoDecoderConfig video_decoder_config_from_checkpoint(const ff::io::Checkpoint& ckpt);

// Loads every slot from `ckpt`, converted to `dtype` on `device`. A missing or mis-shaped tensor
// throws ff::io::CheckpointError naming the file and the tensor. Engine thread, at load.
VideoDecoderWeights load_video_decoder(const ff::io::Checkpoint& ckpt, const VideoDecoderConfig& c,
                                       at::Device device, at::ScalarType dtype);

// The tensors of block `w` with their names relative to "vae.decoder.up_blocks.<i>.", in slot
// order. Pointers point into `w`; `w.resnets` must already have its final size.
ff::layers::NamedFields video_decoder_block_fields(VideoDecoderBlockWeights& w);

// Block `i` of `c` as rt::BlockTensors (shares storage with `w`; no copy). Any thread.
ff::engine::rt::BlockTensors video_decoder_block_tensors(const VideoDecoderBlockWeights& w);

// The struct over the tensors of `b` for block `i` of `c` (views; valid while `b`'s storage is).
// Throws std::invalid_argument when `b` lacks a tensor block `i` needs.
VideoDecoderBlockWeights video_decoder_block_from(const ff::engine::rt::BlockTensors& b,
                                                  const VideoDecoderConfig& c, size_t i);

// Bytes of all weights of `w` (defined tensors).
int64_t video_decoder_weight_bytes(const VideoDecoderWeights& w);

}  // namespace ff::ltx2
