// Test helper: a small random stage model and decoder built in memory from the weight slots.
#pragma once

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include "worker/engine/video/decoder.hpp"
#include "worker/engine/video/sampler.hpp"

namespace ff::test {

inline video::TransformerConfig tiny_transformer_config() {
  video::TransformerConfig c;
  c.in_channels = 4;
  c.num_layers = 2;
  c.num_attention_heads = 2;
  c.attention_head_dim = 8;
  c.ffn_dim = 32;
  c.cross_attention_dim = 12;
  c.positional_embedding_max_pos = {32, 128, 128};
  return c;
}

inline video::StageModel tiny_stage(uint64_t seed, video::TransformerConfig c = tiny_transformer_config()) {
  video::StageModel m;
  m.config = c;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& s : video::transformer_slots(m.weights, m.config, "model.diffusion_model."))
    *s.target = video::random_tensor(s, gen);
  return m;
}

inline video::DecoderConfig tiny_decoder_config() {
  video::DecoderConfig d;
  d.latent_channels = 4;
  d.block_out_channels = {8, 4};
  d.temporal_upsample = {2, 1};
  d.spatial_upsample = {2, 2};
  return d;
}

inline video::DecoderWeights tiny_decoder(uint64_t seed, const video::DecoderConfig& d) {
  video::DecoderWeights w;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& s : video::decoder_slots(w, d)) *s.target = video::random_tensor(s, gen);
  return w;
}

}  // namespace ff::test
