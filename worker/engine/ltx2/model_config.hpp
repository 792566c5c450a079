// The whole "config" metadata of a published LTX-2.3 checkpoint (ltx-2.3-22b-dev.safetensors,
// ltx-2.3-22b-distilled-1.1.safetensors) decoded into one struct, each section by its component's
// decoder: transformer (av_transformer_config_from_json), vae (video decoder + the encoder we
// never run), audio_vae (audio decoder + encoder), vocoder (vocoder_config_from_json); the
// "scheduler" section is kept raw (ltx-core's scheduler is code, the section is not read).
// The embeddings processor's config also needs the Gemma text config, so it is decoded by
// processor_config() once the text encoder's config.json is known.
//
// Refused at start, with std::invalid_argument naming the file and the key, before any weight
// is read (what this engine does not implement, so a job would otherwise fail much later):
//   - "model_version" absent, older than 2.3 or 2.4 and newer. Parsed as ltx-pipelines'
//     detect_model_version does: '-' -> '.', numeric components up to the first non-number
//     ("2.3.0" -> (2,3,0), "2.3.rc1" -> (2,3), "2.4-rc2" -> (2,4)). ltx-pipelines gives an
//     absent/older version LTX-2.0's defaults (LTX_2_PARAMS) and >= 2.4 other ones; 2.5 carries a
//     Gemma-4 text encoder ("gemma_source_checkpoint" metadata).
//   - "gemma_source_checkpoint" present (LTX-2.5: Gemma-4 text encoder).
//   - the LTX-2 (19B) V1 feature extractor (no caption_proj_* keys) or a partial V2 config.
//   - a diffusion VAE decoder (vae._class_name other than "CausalVideoAutoencoder").
//   - anything a section's decoder refuses (see each *_config.hpp).
// Torch-free.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/io/gemma_config.hpp"
#include "worker/engine/ltx2/audio_decoder_config.hpp"
#include "worker/engine/ltx2/av_transformer_config.hpp"
#include "worker/engine/ltx2/encoder_inventory.hpp"
#include "worker/engine/ltx2/video_decoder_config.hpp"
#include "worker/engine/ltx2/vocoder_config.hpp"
#include "worker/engine/text/embeddings_processor_config.hpp"

namespace ff::ltx2 {

struct LtxModelConfig {
  std::string model_version;          // as stored, e.g. "2.3.0"
  std::vector<int64_t> version;       // parsed, e.g. {2, 3, 0}
  AVTransformerConfig transformer;
  VideoDecoderConfig video_decoder;
  VideoEncoderConfig video_encoder;   // accepted in the file, never run
  AudioDecoderConfig audio_decoder;
  AudioEncoderConfig audio_encoder;   // accepted in the file, never run
  VocoderConfig vocoder;
  json::Json scheduler;               // raw, not interpreted
  json::Json config;                  // the whole parsed "config" (for the processor decode)
};

// The supported model generation: checkpoints declaring a model_version in [2.3, 2.4).
inline constexpr int64_t kSupportedMajor = 2, kSupportedMinor = 3;

// Numeric components of a model_version string as ltx-pipelines compares them ("" -> {}).
std::vector<int64_t> parse_model_version(const std::string& version);

// Decodes and checks the metadata of the checkpoint `file` (for messages). Throws
// std::invalid_argument naming `file` and the key.
LtxModelConfig ltx_model_config_from_metadata(const std::map<std::string, std::string>& metadata,
                                              const std::string& file);

// The embeddings processor's config for this checkpoint and text encoder. Throws
// io::CheckpointError naming `file` (V1 / partial V2 / inconsistent widths).
text::EmbeddingsProcessorConfig processor_config(const LtxModelConfig& c, const io::GemmaConfig& gemma,
                                                 const std::string& file);

}  // namespace ff::ltx2
