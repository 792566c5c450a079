// Hugging Face config.json for the Gemma-3 text model, decoded into a plain struct in one place.
// Accepts model_type "gemma3_text" (bare text model) and "gemma3" (multimodal; the text part is
// read from "text_config"), in both dialects:
//   transformers 4.x: rope_theta (global base), rope_local_base_freq, rope_scaling
//                     ({rope_type|type: linear, factor}), sliding_window_pattern (global when
//                     (i+1) % pattern == 0), optionally layer_types;
//   transformers 5.x: layer_types ("sliding_attention" / "full_attention" per layer) and
//                     rope_parameters ({full_attention: {rope_type, rope_theta, factor?},
//                     sliding_attention: {...}}).
// Missing keys take transformers' Gemma3TextConfig defaults; unknown keys are ignored (HF
// configs carry many unrelated keys). Unsupported values (other architectures, rope types other
// than default/linear, attention logit softcapping, activations other than gelu-tanh) are errors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::io {

struct RopeParams {
  double theta = 10000.0;   // base
  double linear_factor = 1.0;  // positions are divided by this ("linear" scaling); 1 = none
};

struct GemmaConfig {
  std::string model_type;  // as in the file: "gemma3_text" or "gemma3"
  int64_t vocab_size = 262208;
  int64_t hidden_size = 2304;
  int64_t intermediate_size = 9216;
  int64_t num_hidden_layers = 26;
  int64_t num_attention_heads = 8;
  int64_t num_key_value_heads = 4;
  int64_t head_dim = 256;
  double rms_norm_eps = 1e-6;
  double query_pre_attn_scalar = 256;  // attention scale = query_pre_attn_scalar^-0.5
  int64_t sliding_window = 4096;       // a local layer's query sees keys with q - k < window
  std::vector<bool> layer_is_sliding;  // per layer: true = local (sliding window) attention
  RopeParams rope_global{1e6, 1.0};    // full-attention layers
  RopeParams rope_local{1e4, 1.0};     // sliding-window layers
  int64_t pad_token_id = 0;
  int64_t bos_token_id = 2;
  std::string torch_dtype;  // "bfloat16", "float32", ... or "" when absent

  // Number of hidden states the model returns: embedding + one per layer.
  int64_t num_hidden_states() const { return num_hidden_layers + 1; }
  // Throws CheckpointError(source + ": ...") when sizes are inconsistent.
  void validate(const std::string& source) const;
};

// Decodes a parsed config.json; source names the file in error messages.
GemmaConfig parse_gemma_config(const json::Json& root, const std::string& source);
// Reads and decodes path (a config.json file, or a directory holding one).
GemmaConfig load_gemma_config(const std::string& path);
// The config as a transformers 4.x-dialect text config object (model_type "gemma3_text").
json::Json gemma_config_to_json_v4(const GemmaConfig& c);

}  // namespace ff::io
