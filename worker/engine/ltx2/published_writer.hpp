// make-weights for the published LTX-2.3 layout: random weights in exactly the files users
// download, so every loader and check-model run against the real names, shapes, dtypes and
// metadata. DIR receives:
//   ltx-2.3-22b-dev.safetensors                 transformer + embeddings processor + video VAE
//                                               (encoder, decoder, statistics) + audio VAE + vocoder;
//                                               metadata "config" (transformer, vae, audio_vae,
//                                               vocoder, scheduler) and "model_version" "2.3.0";
//                                               *scale_shift_table* F32, everything else BF16
//   ltx-2.3-22b-distilled-1.1.safetensors       (tiny only) the same layout, other values
//   ltx-2.3-spatial-upscaler-x2-1.1.safetensors unprefixed upsampler names, own "config"
//   ltx-2.3-22b-distilled-lora-384-1.1.safetensors  diffusion_model.<path>.lora_{A,B}.weight for
//                                               the 28 Linear weights of every transformer block
//                                               (to_q/k/v/to_out.0 of the six attentions, ff and
//                                               audio_ff; the published file's coverage is not
//                                               known), rank preset.lora_rank
//   gemma-3-12b-it-qat-q4_0-unquantized/        config.json (Gemma3ForConditionalGeneration:
//                                               text_config + vision_config), model-0000i-of-0000n
//                                               .safetensors + model.safetensors.index.json with
//                                               language_model.model.* and the SigLIP vision
//                                               tower (vision_tower.vision_model.*,
//                                               multi_modal_projector.*); tokenizer.model is the
//                                               supervisor's (framefarm-worker make-model)
//   model.json                                  the "model" object naming them all (absolute paths)
// Values are drawn per tensor from a generator seeded by (seed, file role, name): the same preset
// and seed give byte-identical files. Tensors are streamed to disk one at a time
// (io::SafetensorsWriter), so the 46 GB checkpoint never sits in memory.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/published_presets.hpp"
#include "worker/engine/layers/weight_spec.hpp"

namespace ff::ltx2 {

// How a tensor's random values are drawn.
enum class ValueRule {
  kInit,          // per `init` (normal(0, std) or constant)
  kTextSide,      // text::random_tensor: Gemma language model (norm form) / embeddings processor
};

struct PlannedTensor {
  std::string name;
  std::vector<int64_t> shape;
  at::ScalarType dtype;
  layers::WeightInit init;
  ValueRule rule = ValueRule::kInit;
  bool gemma_norm_form = false;  // kTextSide: Gemma's (1 + w) norms
};

struct PlannedFile {
  std::string path;  // relative to DIR
  std::map<std::string, std::string> metadata;
  std::vector<PlannedTensor> tensors;
  uint64_t seed_salt = 0;  // mixed into the per-tensor seeds
};

struct PublishedLayout {
  std::vector<PlannedFile> files;  // every safetensors file (checkpoints, upsampler, LoRA, Gemma shards)
  std::string gemma_dir;           // relative: "gemma-3-12b-it-qat-q4_0-unquantized"
  std::string gemma_config_json;   // its config.json
  std::string gemma_index_json;    // its model.safetensors.index.json
  ModelFiles model;                // absolute paths under DIR, pipeline two_stages
};

// The dtype the published checkpoint stores `name` in: F32 for *scale_shift_table*, else BF16.
at::ScalarType published_dtype(const std::string& name);

// The full plan for `p` under `dir` (nothing written). Throws std::invalid_argument when a
// component's config is refused.
PublishedLayout published_layout(const PublishedPreset& p, const std::string& dir);

// Writes the JSON files of the plan: the Gemma folder's config.json and index, and DIR/model.json.
void write_published_json(const PublishedLayout& layout, const std::string& dir);

// Writes everything (JSON files + all safetensors files with random values). Creates dir.
void write_published_model(const PublishedPreset& p, uint64_t seed, const std::string& dir);

}  // namespace ff::ltx2
