// LTX-2.3's video VAE decoder (ltx-core ConvVideoDecoder) as a plain struct, decoded from the
// "vae" section of a checkpoint's metadata "config". Torch-free.
//
// What is supported is exactly what LTX-2.3 uses: class CausalVideoAutoencoder, 3-D convolutions,
// pixel_norm, a non-causal decoder, no timestep conditioning (so no noise injection), zeros
// spatial padding, and the decoder blocks res_x, compress_time, compress_space, compress_all
// (multiplier any divisor, no residual). Everything else is refused with std::invalid_argument
// naming the file and key: causal_decoder true, timestep_conditioning true or absent (ltx-core's
// default is true), spatial_padding_mode other than "zeros" or absent (default "reflect"),
// group_norm, attn / attn_res_x / res_x_y blocks, inject_noise, residual upsampling, unknown
// block names and unknown keys. Encoder-only keys of the published section are accepted and
// ignored (in_channels, encoder_blocks, encoder_base_channels, latent_log_var, use_quant_conv,
// scaling_factor, normalize_latent_channels, encoder_spatial_padding_mode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

enum class VideoDecoderBlockKind { kResX, kCompressTime, kCompressSpace, kCompressAll };

// The config name of a kind ("res_x", "compress_time", ...).
const char* video_decoder_block_name(VideoDecoderBlockKind k);

// One entry of the decoder, in EXECUTION order (the config lists them encoder-side first; the
// decoder runs them reversed). Module index i is published as vae.decoder.up_blocks.<i>.
struct VideoDecoderBlock {
  VideoDecoderBlockKind kind = VideoDecoderBlockKind::kResX;
  int64_t num_layers = 0;  // res_x: ResnetBlock3D count
  int64_t multiplier = 1;  // compress_*: channel reduction after depth-to-space
  int64_t in_channels = 0;
  int64_t out_channels = 0;  // res_x: in_channels; compress_*: in_channels / multiplier
  int64_t stride_t = 1, stride_s = 1;  // depth-to-space factors (time; height = width)

  bool is_upsample() const { return kind != VideoDecoderBlockKind::kResX; }
  // compress_*: the conv's output channels, in * stride_t * stride_s^2 / multiplier.
  int64_t conv_out_channels() const { return in_channels * stride_t * stride_s * stride_s / multiplier; }
};

// Pixels (frames) per latent cell along time, height, width.
struct VideoScale {
  int64_t time = 8, height = 32, width = 32;
};

struct VideoDecoderConfig {
  int64_t latent_channels = 128;
  int64_t out_channels = 3;
  int64_t patch_size = 4;
  int64_t base_channels = 128;  // "decoder_base_channels": width after the last block
  std::vector<VideoDecoderBlock> blocks;  // execution order, channels filled in
  double pixel_norm_eps = 1e-8;           // ltx-core's PixelNorm default (not in the config)

  // conv_in's output width: base_channels times every compress multiplier.
  int64_t bottleneck_channels() const;
  // conv_out's input width (== base_channels for a consistent config).
  int64_t final_channels() const;
  // conv_out's output channels: out_channels * patch_size^2.
  int64_t conv_out_channels() const { return out_channels * patch_size * patch_size; }
  // Scale factors derived from the blocks as ltx-core does (each compress_* doubles its axes;
  // the patch multiplies space). LTX-2.3: {8, 32, 32}.
  VideoScale scale() const;
};

// Decodes the "vae" section `vae` (a JSON object). `what` names the source in errors
// (e.g. "model.safetensors: config.vae"). Throws std::invalid_argument naming `what` and the key.
VideoDecoderConfig video_decoder_config_from_json(const json::Json& vae, const std::string& what);

// The "vae" section for `c` (the keys ltx-core reads for the decoder, with the values that make
// ltx-core build this decoder), e.g. for writing a decoder file. Round-trips through _from_json.
json::Json video_decoder_config_to_json(const VideoDecoderConfig& c);

}  // namespace ff::ltx2
