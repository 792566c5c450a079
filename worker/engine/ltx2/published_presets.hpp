// Presets of make-weights that write the published LTX-2.3 layout (published_writer.hpp):
//   "tiny"       every 2.3 feature on at toy sizes (2-layer transformer of width 32, 8 latent
//                channels, tiny VAE / audio VAE / vocoder / upsampler, 6-layer Gemma of width 64,
//                vocab 512 = the supervisor's tiny tokenizer): seconds per job on a CPU.
//   "ltx23-22b"  the real sizes: the checkpoint's config is the published 2.3 config (the same
//                dict as tests/worker/engine/ltx2/reference/inventory_reference.py), Gemma-3-12B with its SigLIP
//                vision tower, the x2 upsampler (mid 1024), the distilled LoRA at rank 384.
// Torch-free apart from the dtype enum.
#pragma once

#include <cstdint>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/io/gemma_config.hpp"

namespace ff::ltx2 {

struct PublishedPreset {
  std::string name;
  std::string model_version = "2.3.0";
  json::Json config;             // the checkpoint's metadata "config" (transformer, vae, audio_vae, vocoder, scheduler)
  io::GemmaConfig gemma;         // text_config of the Gemma folder
  json::Json vision_config;      // vision_config (SigLIP, HF keys) of the Gemma folder
  int64_t mm_tokens_per_image = 256;
  int64_t gemma_shards = 5;
  json::Json upsampler_config;   // the upsampler file's metadata "config"
  int64_t lora_rank = 384;
  bool write_distilled = false;  // also write ltx-2.3-22b-distilled-1.1.safetensors (cheap for tiny only)
  // Transformer blocks past this index reuse block (i % distinct_blocks)'s random values: a CPU
  // generator would otherwise spend most of an hour on 19 B parameters.
  int64_t distinct_blocks = int64_t{1} << 30;
};

// "tiny" or "ltx23-22b"; throws std::invalid_argument listing the known names.
PublishedPreset published_preset(const std::string& name);

// The published 2.3 checkpoint config (real sizes).
json::Json ltx23_checkpoint_config();
// The published x2 upsampler config (real sizes; rational_resampler false, see LTX23.md section 4).
json::Json ltx23_upsampler_config();

}  // namespace ff::ltx2
