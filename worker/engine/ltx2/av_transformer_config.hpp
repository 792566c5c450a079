// Configuration of LTX-2.3's audio-video diffusion transformer (ltx-core LTXModel, model type
// AudioVideo), decoded from the "transformer" section of the published file's "config" metadata.
// Torch-free. Decoded in one place (av_transformer_config_from_json); every value the math uses
// comes from the section (with ltx-core's LTXModelConfigurator defaults where a key is absent).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

struct AVTransformerConfig {
  int64_t num_layers = 48;
  // Video stream.
  int64_t num_attention_heads = 32;
  int64_t attention_head_dim = 128;
  int64_t in_channels = 128;   // patchified video latent width
  int64_t out_channels = 128;  // velocity width
  int64_t cross_attention_dim = 4096;  // video text-context width (= inner_dim: no caption projection)
  std::vector<int64_t> positional_embedding_max_pos{20, 2048, 2048};  // (time s, height px, width px)
  // Audio stream.
  int64_t audio_num_attention_heads = 32;  // must equal num_attention_heads (ltx-core requires it)
  int64_t audio_attention_head_dim = 64;
  int64_t audio_in_channels = 128;  // patchified audio latent width (z_channels x mel bins)
  int64_t audio_out_channels = 128;
  int64_t audio_cross_attention_dim = 2048;  // audio context width (= audio_inner_dim); also the
                                             // A/V cross-attention RoPE width
  std::vector<int64_t> audio_positional_embedding_max_pos{20};
  // Shared.
  double positional_embedding_theta = 10000.0;
  double timestep_scale_multiplier = 1000.0;        // AdaLN input = sigma x this
  double av_ca_timestep_scale_multiplier = 1.0;     // ltx-core default 1; the 2.3 file says 1000
  double norm_eps = 1e-6;
  bool apply_gated_attention = false;  // per-head 2*sigmoid gates (2.3: true)
  bool cross_attention_adaln = false;  // 9-row tables + prompt AdaLN (2.3: true)
  bool use_prompt_adaln_single = true;
  bool ff_bias = true;
  bool audio_ff_bias = true;
  bool double_precision_rope = false;  // "frequencies_precision": "float64" -> float64 grid
  bool use_middle_indices_grid = true;
  // Keys of the section this decoder neither reads nor knows to belong elsewhere (for a log line;
  // nothing depends on them).
  std::vector<std::string> unrecognized_keys;

  int64_t inner_dim() const { return num_attention_heads * attention_head_dim; }
  int64_t audio_inner_dim() const { return audio_num_attention_heads * audio_attention_head_dim; }
  // Rows of a block's scale_shift_table / adaln_single output: 6, or 9 with cross_attention_adaln.
  int64_t adaln_coefficient() const { return cross_attention_adaln ? 9 : 6; }
  bool has_prompt_adaln() const { return cross_attention_adaln && use_prompt_adaln_single; }
};

// Decodes the transformer section. `what` names the source in errors (e.g. "ltx.safetensors
// config.transformer"). Throws std::invalid_argument naming `what` and the key for:
// wrong types, values ltx-core itself refuses (LTXModelConfigurator's check_config_value list),
// and values this port does not implement: rope_type other than "split",
// caption_proj_before_connector false/absent (caption projection inside the transformer),
// different video/audio head counts, context widths different from the inner widths,
// use_middle_indices_grid false, use_keyframes_abs_pos_embedding true, unknown
// frequencies_precision. Connector keys (connector_*, audio_connector_*) and other keys known to
// belong elsewhere are accepted and ignored; a key nobody knows is accepted and not relied upon.
AVTransformerConfig av_transformer_config_from_json(const json::Json& transformer_section,
                                                    const std::string& what);

}  // namespace ff::ltx2
