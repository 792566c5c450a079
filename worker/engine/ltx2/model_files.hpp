// The model files as users download them (no conversion step), named by the engine config's
// "model" object (the worker config's "model_files"):
//   {"checkpoint": ".../ltx-2.3-22b-dev.safetensors",          (or ...-distilled-1.1.safetensors)
//    "text_encoder": ".../gemma-3-12b-it-qat-q4_0-unquantized",  (HF folder, tokenizer.model inside)
//    "spatial_upsampler": ".../ltx-2.3-spatial-upscaler-x2-1.1.safetensors",
//    "distilled_lora": ".../ltx-2.3-22b-distilled-lora-384-1.1.safetensors",
//    "distilled_lora_strength": 1.0, "pipeline": "two_stages" | "distilled"}
// and the full check of those files without loading a weight (check_model_files): headers, every
// tensor name, shape and dtype of every component, every config, the tokenizer's presence, and
// what the pipeline needs. Only safetensors headers and JSON files are read (the safetensors are
// memory-mapped; no tensor page is touched).
//
// How the engine opens them (see model_files.cpp for the per-component lists):
//   checkpoint        io::Checkpoint::open(checkpoint); ltx_model_config_from_metadata(metadata);
//                     each component's slots (av_transformer_slots with prefix
//                     "model.diffusion_model.", video_decoder_slots, audio_decoder_slots,
//                     vocoder slots, the text side's processor) loaded with load_slots over a
//                     fetch that checks the shape and converts any float dtype to the compute
//                     dtype (the F32 scale_shift tables included); the encoders are never loaded.
//   text_encoder      io::Checkpoint::open(folder) (the index) + io::load_gemma_config(folder);
//                     vision tower / projector tensors are ignored.
//   spatial_upsampler load_upsampler(file) (own "config" metadata).
//   distilled_lora    diffusion_model.<path>.lora_{A,B}.weight, fused into
//                     model.diffusion_model.<path>.weight.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/ltx2/checkpoint_inventory.hpp"
#include "worker/engine/ltx2/model_config.hpp"

namespace ff::ltx2 {

enum class PipelineKind { kTwoStages, kDistilled };

const char* pipeline_name(PipelineKind p);  // "two_stages" | "distilled"

struct ModelFiles {
  std::string checkpoint;         // single-file LTX-2.3 checkpoint (dev or distilled)
  std::string text_encoder;       // HF Gemma-3 folder (Gemma3ForConditionalGeneration)
  std::string spatial_upsampler;  // "" = none
  std::string distilled_lora;     // "" = none
  double lora_strength = 1.0;     // ltx-pipelines' DEFAULT_LORA_STRENGTH
  PipelineKind pipeline = PipelineKind::kTwoStages;
};

// Decodes the "model" object. Relative paths are resolved against `base_dir` when it is not
// empty. Throws std::invalid_argument naming `what` and the key: unknown keys, wrong types,
// missing checkpoint / text_encoder, unknown pipeline, negative or non-finite strength.
ModelFiles model_files_from_json(const json::Json& v, const std::string& what, const std::string& base_dir = "");
json::Json model_files_to_json(const ModelFiles& f);

// The published file names (make-model writes them; check-model warns when a distilled
// pipeline is given a "-dev" checkpoint and vice versa, since no metadata tells them apart).
inline constexpr const char* kDevCheckpointName = "ltx-2.3-22b-dev.safetensors";
inline constexpr const char* kDistilledCheckpointName = "ltx-2.3-22b-distilled-1.1.safetensors";
inline constexpr const char* kUpsamplerName = "ltx-2.3-spatial-upscaler-x2-1.1.safetensors";
inline constexpr const char* kDistilledLoraName = "ltx-2.3-22b-distilled-lora-384-1.1.safetensors";
inline constexpr const char* kTextEncoderName = "gemma-3-12b-it-qat-q4_0-unquantized";

// The checkpoint's components: transformer, embeddings_processor, video_decoder, video_encoder
// (loaded = false), audio_decoder, audio_encoder (loaded = false), vocoder. `gemma` gives the
// text projection's input width. Throws like the decoders.
std::vector<ComponentInventory> checkpoint_inventory(const LtxModelConfig& c, const io::GemmaConfig& gemma,
                                                     const std::string& file);
// The text encoder's language-model tensors under `prefix` (embed_tokens, layers, norm).
ComponentInventory text_encoder_inventory(const io::GemmaConfig& g, const std::string& prefix);
// Prefixes of the text encoder folder that are accepted and never loaded (vision tower,
// multimodal projector, a stored lm_head), in both transformers dialects.
const std::vector<std::string>& text_encoder_ignored_prefixes();

struct ModelFilesReport {
  ModelFiles files;
  std::string model_version;
  std::vector<FileSummary> files_checked;  // checkpoint, text encoder, upsampler, LoRA
  std::string tokenizer;                   // path of tokenizer.model
  int64_t tokenizer_bytes = 0;
  std::vector<int64_t> lora_ranks;         // distinct ranks found in the LoRA
  std::vector<std::string> warnings;
};

// Checks everything named by `files` (see the top of this file). Throws std::invalid_argument
// (configs, pipeline needs) or io::CheckpointError (files, tensors), each naming the file and
// the key or tensor. Reads headers only.
ModelFilesReport check_model_files(const ModelFiles& files);

// A printable per-file, per-component table (tensors, params, bytes, loaded) plus totals and
// warnings.
std::string format_report(const ModelFilesReport& r);

}  // namespace ff::ltx2
