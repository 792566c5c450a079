// Configuration of LTX-2.3's embeddings processor (feature extractor V2 + video/audio
// connectors), decoded in one place from the JSON stored under the safetensors metadata key
// "config" of the LTX checkpoint (section "transformer") plus the Gemma text config.
// Keys read (defaults are ltx-core's): num_attention_heads x attention_head_dim (video width),
// audio_num_attention_heads x audio_attention_head_dim (audio width), connector_num_attention_heads,
// connector_attention_head_dim, connector_num_layers, connector_apply_gated_attention,
// connector_ff_bias, connector_positional_embedding_max_pos, rope_type ("split"|"interleaved"),
// frequencies_precision ("float64" selects the float64 frequency grid), audio_connector_* (fall
// back to the video connector's values), and the V2 markers caption_proj_before_connector=true,
// caption_projection_first_linear=false, caption_proj_input_norm=false,
// caption_projection_second_linear=false. The section also holds the stage transformers' keys,
// so other keys are ignored here.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/io/gemma_config.hpp"

namespace ff::text {

enum class LtxRopeType { Split, Interleaved };

struct ConnectorConfig {
  int64_t num_heads = 30;
  int64_t head_dim = 128;
  int64_t num_layers = 2;
  bool gated_attention = false;
  bool ff_bias = true;
  std::vector<int64_t> max_pos{1};     // positional_embedding_max_pos (1-D: one entry)
  LtxRopeType rope_type = LtxRopeType::Split;
  bool float64_frequencies = false;    // frequencies_precision == "float64"
  double theta = 10000.0;              // positional_embedding_theta (fixed in ltx-core)
  int64_t num_registers = 128;         // learnable registers (fixed in ltx-core)
  int64_t dim() const { return num_heads * head_dim; }
};

struct EmbeddingsProcessorConfig {
  int64_t text_hidden = 3840;        // Gemma hidden size (D)
  int64_t num_hidden_states = 49;    // Gemma layers + 1 (L)
  int64_t video_dim = 4096;          // video projection / connector width
  int64_t audio_dim = 2048;          // audio projection / connector width
  ConnectorConfig video;
  ConnectorConfig audio;
  int64_t flat_dim() const { return text_hidden * num_hidden_states; }
};

// Decodes the LTX "config" metadata JSON (whole object holding "transformer") for the Gemma text
// model gemma. Throws io::CheckpointError(source + ": ...") on a V1 (LTX-2 19B) or partial V2
// config, bad types, or widths that do not match (connector heads x head_dim != projection width).
EmbeddingsProcessorConfig parse_embeddings_processor_config(const json::Json& ltx_config,
                                                            const io::GemmaConfig& gemma,
                                                            const std::string& source);

}  // namespace ff::text
