// The encoders the published checkpoint carries but this engine never runs: the video VAE
// encoder ("vae.encoder.*", ltx-core VideoEncoder) and the audio VAE encoder
// ("audio_vae.encoder.*", ltx-core AudioEncoder). The loader accepts exactly their tensors (so a
// file with a missing, unexpected or mis-shaped tensor is refused) and never loads them.
// Torch-free: configs and (name, shape) lists only.
//
// Names, from ltx-core's classes (every conv is stored under its wrapper's ".conv."):
//   video: conv_in.conv.{weight [C0, in*p*p, 3,3,3], bias}; down_blocks.N per encoder_blocks entry:
//          res_x             -> res_blocks.J.{conv1,conv2}.conv.{weight [c, c, 3,3,3], bias}
//          res_x_y           -> conv1/conv2 (c -> c*m), conv_shortcut.{weight [c*m, c, 1,1,1], bias},
//                               norm3.{weight, bias} [c]
//          compress_{time,space,all}      -> conv.{weight [c, c, 3,3,3], bias}
//          compress_all_x_y               -> conv.{weight [c*m, c, 3,3,3], bias}
//          compress_{time,space,all}_res  -> conv.conv.{weight [c*m/prod(stride), c, 3,3,3], bias}
//          conv_out.conv.{weight [latent+1 (uniform) | 2*latent (per_channel) | latent, c, 3,3,3], bias}
//   audio: conv_in.conv [ch, in, 3, 3]; down.L.block.B.{conv1,conv2}.conv (+ nin_shortcut.conv
//          [out, in, 1, 1] when the width changes); down.L.downsample.conv [c, c, 3, 3] (all but
//          the last level); mid.block_{1,2}.{conv1,conv2}.conv; conv_out.conv [2z | z, c, 3, 3].
// The per-channel statistics the encoders share with the decoders ("vae.per_channel_statistics.*",
// "audio_vae.per_channel_statistics.*") are listed with the decoders, not here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

// One stored tensor: full name and shape.
struct NamedShape {
  std::string name;
  std::vector<int64_t> shape;
};

struct VideoEncoderBlock {
  std::string kind;        // res_x, res_x_y, compress_{time,space,all}[_res], compress_all_x_y
  int64_t num_layers = 1;  // res_x
  int64_t multiplier = 2;  // *_x_y and *_res
};

struct VideoEncoderConfig {
  int64_t in_channels = 3;
  int64_t latent_channels = 128;
  int64_t patch_size = 4;
  std::vector<VideoEncoderBlock> blocks;
  std::string latent_log_var = "uniform";  // uniform | constant (+1 channel), per_channel (x2), none
};

struct AudioEncoderConfig {
  int64_t ch = 128;
  std::vector<int64_t> ch_mult{1, 2, 4};
  int64_t num_res_blocks = 2;
  int64_t in_channels = 2;
  int64_t z_channels = 8;
  bool double_z = true;
};

// Decodes the "vae" section (the flat CausalVideoAutoencoder layout). Refuses with
// std::invalid_argument naming `what` and the key: dims other than 3, norm_layer other than
// pixel_norm, block kinds with parameters this inventory does not know ("attn"), a nested
// "encoder" object (the diffusion VAE layout), non-positive sizes.
VideoEncoderConfig video_encoder_config_from_json(const json::Json& vae_section, const std::string& what);

// Decodes "audio_vae".model.params.ddconfig. Refuses attention (non-empty attn_resolutions, or
// mid_block_add_attention true / absent: ltx-core's default is true), norm_type other than
// "pixel", resamp_with_conv false.
AudioEncoderConfig audio_encoder_config_from_json(const json::Json& audio_vae_section, const std::string& what);

// The stored tensors, in module order, names prefixed with `prefix`.
std::vector<NamedShape> video_encoder_inventory(const VideoEncoderConfig& c, const std::string& prefix = "vae.encoder.");
std::vector<NamedShape> audio_encoder_inventory(const AudioEncoderConfig& c,
                                                const std::string& prefix = "audio_vae.encoder.");

// The config as the published "vae" encoder keys / "audio_vae" ddconfig keys (for make-weights).
json::Json video_encoder_blocks_to_json(const std::vector<VideoEncoderBlock>& blocks);

}  // namespace ff::ltx2
