// Latent decoder sizes, decoded from vae_decoder.safetensors metadata "config", section "vae".
// Torch-free. Unknown keys are rejected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json.hpp"

namespace ff::video {

struct DecoderConfig {
  int64_t latent_channels = 128;
  // Channels entering each up level; level i maps block_out_channels[i] -> block_out_channels[i+1]
  // (the last level keeps its width). Length = number of levels.
  std::vector<int64_t> block_out_channels = {1024, 512, 256, 128, 128};
  // Per level, upsampling factors (time, space): depth-to-space by (t, s, s).
  std::vector<int64_t> temporal_upsample = {2, 2, 2, 1, 1};
  std::vector<int64_t> spatial_upsample = {2, 2, 2, 2, 2};
  double norm_eps = 1e-6;

  int64_t temporal_scale() const;  // product of temporal_upsample
  int64_t spatial_scale() const;   // product of spatial_upsample
  // Output channels of level i (after upsampling).
  int64_t level_out(size_t i) const {
    return i + 1 < block_out_channels.size() ? block_out_channels[i + 1] : block_out_channels[i];
  }
};

// Throws std::invalid_argument naming `what` and the key.
DecoderConfig decoder_config_from_json(const json::Value& section, const std::string& what);
json::Object decoder_config_to_json(const DecoderConfig& c);

}  // namespace ff::video
