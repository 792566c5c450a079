// Sizes of the video components for each make-weights preset.
//   tiny        CPU tests: 2-layer stages of width 32, 8 latent channels, 4x/8x decoder, f32.
//   gemma3-12b  text-encoder benchmarks: the text side at real size, the video side tiny (f32).
//   stage-22b   real sizes: two 48-layer stages of width 4096 (~34.5 GiB each in bf16), a
//               128-channel latent, an 8x/32x decoder (bf16).
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "worker/engine/video/decoder_config.hpp"
#include "worker/engine/video/sampler_config.hpp"
#include "worker/engine/video/transformer_config.hpp"

namespace ff::engine {

struct VideoPreset {
  std::string text_preset;  // the text owner's preset to write alongside ("tiny", "gemma3-12b")
  video::TransformerConfig stage1, stage2;
  video::SamplerConfig sampler;
  video::DecoderConfig decoder;
  at::ScalarType dtype = at::kFloat;
  // Blocks past this index reuse the random values of block (i % distinct_blocks): writing two
  // 35 GiB stages from a CPU random generator would otherwise take most of an hour.
  int64_t distinct_blocks = 1 << 30;
};

// The preset named `name`; throws std::invalid_argument listing the known names.
// cross_attention_dim: width of the video context the text side produces for this preset.
VideoPreset video_preset(const std::string& name, int64_t cross_attention_dim);

}  // namespace ff::engine
