// Sizes of a video diffusion transformer (one stage), decoded from the JSON config that the
// checkpoint carries in its safetensors metadata (key "config", section "transformer").
// Torch-free: a plain struct plus one decoder function.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "common/json.hpp"

namespace ff::video {

struct TransformerConfig {
  int64_t in_channels = 128;           // latent channels
  int64_t patch_size = 1;              // spatial patch edge (latent pixels)
  int64_t patch_size_t = 1;            // temporal patch length (latent frames)
  int64_t num_layers = 48;
  int64_t num_attention_heads = 32;
  int64_t attention_head_dim = 128;
  int64_t ffn_dim = 16384;             // hidden width of the gated MLP
  int64_t cross_attention_dim = 4096;  // width of the video context rows
  int64_t timestep_embedding_dim = 256;
  double norm_eps = 1e-6;
  double positional_embedding_theta = 10000.0;
  std::array<int64_t, 3> positional_embedding_max_pos = {20, 2048, 2048};  // t, h, w (pixels)
  double timestep_scale_multiplier = 1000.0;

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  // Width of one patch token: in_channels * patch_size_t * patch_size^2.
  int64_t patch_dim() const { return in_channels * patch_size_t * patch_size * patch_size; }
};

// Reads the transformer keys from `section` (the "transformer" object of the checkpoint config).
// The section is shared with the embeddings processor (connector_* keys, audio_* keys), so keys
// this struct does not know are left alone; every key it knows must have the right type and a
// valid value. Throws std::invalid_argument naming `what` and the key on any problem.
TransformerConfig transformer_config_from_json(const json::Value& section, const std::string& what);

// The inverse, for writers: a JSON object with every field of `c`.
json::Object transformer_config_to_json(const TransformerConfig& c);

// Checks divisibility/positivity constraints; throws std::invalid_argument naming `what`.
void validate(const TransformerConfig& c, const std::string& what);

}  // namespace ff::video
