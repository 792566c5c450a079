// The video components of a model directory, loaded once at engine start:
//   DIR/ltx.safetensors        stage-1 transformer (prefix "model.diffusion_model."), metadata
//                              "config": {"transformer": {...}, "sampler": {...}} (+ the text
//                              owner's embeddings-processor keys)
//   DIR/stage2.safetensors     stage-2 transformer, same names, metadata "config": {"transformer"}
//   DIR/vae_decoder.safetensors latent decoder (prefix "decoder."), metadata "config": {"vae"}
// Weights keep the checkpoint's dtype and are moved to `device` (CPU tensors alias the mapping).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "worker/engine/video/decoder.hpp"
#include "worker/engine/video/sampler.hpp"

namespace ff::engine {

inline constexpr const char* kTransformerPrefix = "model.diffusion_model.";

struct VideoModels {
  video::StageModel stage1, stage2;
  video::DecoderConfig decoder_config;
  video::DecoderWeights decoder;
  video::SamplerConfig sampler;
  video::LatentFormat latent_format;
  int64_t stage1_bytes = 0, stage2_bytes = 0, decoder_bytes = 0;  // weight bytes of each model
};

// Which components keep their weights on the host after loading (CPU tensors aliasing the file
// mapping): those whose blocks go into a BlockStore (placement stream/auto), so that no full
// device copy is ever made.
struct StagesOnHost {
  bool stage1 = false, stage2 = false;
  bool decoder = false;  // vae_decoder
};

// Loads and checks everything. Throws io::CheckpointError (file/tensor named) for bad files,
// std::invalid_argument for bad or inconsistent configs.
VideoModels load_video_models(const std::string& model_dir, at::Device device, StagesOnHost on_host = {});

}  // namespace ff::engine
