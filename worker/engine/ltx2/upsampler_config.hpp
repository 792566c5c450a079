// The LTX-2 latent upsampler's configuration, decoded from the upsampler file's own safetensors
// metadata "config" (ltx-2.3-spatial-upscaler-x2-1.1.safetensors carries
// {"_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 1024,
//  "num_blocks_per_stage": 4, "dims": 3, "spatial_upsample": true, "temporal_upsample": false,
//  "spatial_scale": 2.0, "rational_resampler": ...}). Torch-free.
//
// Absent keys take ltx-core's LatentUpsamplerConfigurator defaults (mid 512, 4 blocks, dims 3,
// spatial x2, not rational). Only what this port implements is accepted: dims 3, spatial x2
// upsampling without temporal upsampling, either key variant of the x2 convolution (a
// SpatialRationalResampler at scale 2 is the plain conv + pixel shuffle, its blur has stride 1).
// Everything else, and unknown keys, is refused with std::invalid_argument naming `what` and
// the key. Keys starting with '_' are bookkeeping (e.g. "_class_name", "_diffusers_version");
// "_class_name", when present, must be "LatentUpsampler".
#pragma once

#include <cstdint>
#include <string>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

struct UpsamplerConfig {
  int64_t in_channels = 128;   // latent channels in and out
  int64_t mid_channels = 512;  // width of the res blocks; a multiple of 32 (GroupNorm(32, ...))
  int64_t num_blocks_per_stage = 4;  // ResBlocks before and after the x2 step (each)
  // false: the x2 conv is stored as "upsampler.0.{weight,bias}" (Sequential(Conv2d, PixelShuffle));
  // true: as "upsampler.conv.{weight,bias}" plus the unused buffer "upsampler.blur_down.kernel".
  bool rational_resampler = false;
};

// `config` is the parsed metadata "config" object.
UpsamplerConfig upsampler_config_from_json(const json::Json& config, const std::string& what);
json::Json upsampler_config_to_json(const UpsamplerConfig& c);

}  // namespace ff::ltx2
