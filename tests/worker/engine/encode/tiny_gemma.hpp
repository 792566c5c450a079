// Test helper: a tiny Gemma-3 + LTX embeddings processor with random weights (seeded), built with
// worker/engine/text's shapes and structs, for parity tests of the encode pipeline.
#pragma once

#include <ATen/ATen.h>

#include "worker/engine/encode/gemma_ltx_weights.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::test {

struct TinyEncoder {
  ff::text::GemmaConfig gemma;
  ff::text::EmbeddingsProcessorConfig processor;
  ff::text::GemmaWeights gw;
  ff::text::EmbeddingsProcessorWeights pw;
};

inline TinyEncoder tiny_encoder(at::ScalarType dtype, uint64_t seed) {
  using namespace ff::text;
  TinyEncoder t;
  GemmaConfig& c = t.gemma;
  c.model_type = "gemma3_text";
  c.vocab_size = 64;
  c.hidden_size = 32;
  c.intermediate_size = 64;
  c.num_hidden_layers = 4;
  c.num_attention_heads = 2;
  c.num_key_value_heads = 1;
  c.head_dim = 16;
  c.query_pre_attn_scalar = 16;
  c.sliding_window = 6;  // small, so sliding layers really slide within a 24-token layout
  c.layer_is_sliding = {true, true, false, true};
  c.rope_global = {1e6, 8.0};
  c.rope_local = {1e4, 1.0};
  EmbeddingsProcessorConfig& p = t.processor;
  p.text_hidden = 32;
  p.num_hidden_states = 5;
  p.video_dim = 16;
  p.audio_dim = 8;
  p.video.num_heads = 2;
  p.video.head_dim = 8;
  p.video.num_layers = 2;
  p.video.num_registers = 8;
  p.video.max_pos = {4096};
  p.audio = p.video;
  p.audio.head_dim = 4;
  p.audio.num_layers = 1;
  at::manual_seed(seed);
  auto r = [&](at::IntArrayRef shape, double sd) { return (at::randn(shape) * sd).to(dtype); };
  t.gw.embed_tokens = r({c.vocab_size, c.hidden_size}, 0.5);
  t.gw.norm = r({c.hidden_size}, 0.1);
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    GemmaLayerWeights lw;
    auto shapes = gemma_layer_shapes(c);
    auto named = lw.named();
    for (size_t k = 0; k < named.size(); ++k) *named[k].second = r(shapes[k].second, shapes[k].second.size() == 1 ? 0.1 : 0.2);
    t.gw.layers.push_back(lw);
  }
  std::vector<std::pair<std::string, at::Tensor>> pt;
  for (const auto& [name, shape] : embeddings_processor_tensor_shapes(p)) pt.emplace_back(name, r(shape, 0.2));
  t.pw = embeddings_processor_from_tensors(pt, p);
  return t;
}

inline ff::engine::encode::GemmaLtxSource tiny_source(const TinyEncoder& t) {
  ff::engine::encode::GemmaLtxSource s;
  s.layer = [&t](int64_t i) { return t.gw.layers.at(i); };
  s.fe_slices = [&t](int64_t k) {
    return std::make_pair(t.pw.features.video.weight.select(0, k), t.pw.features.audio.weight.select(0, k));
  };
  s.embed_tokens = t.gw.embed_tokens;
  s.norm = t.gw.norm;
  s.fe_video_bias = t.pw.features.video.bias;
  s.fe_audio_bias = t.pw.features.audio.bias;
  s.video_connector = t.pw.video;
  s.audio_connector = t.pw.audio;
  return s;
}

// Prompts with these lengths: BOS (2) then ids in [3, vocab).
inline std::vector<std::vector<int32_t>> tiny_prompts(std::vector<int> lens, int seed) {
  std::vector<std::vector<int32_t>> out;
  for (size_t i = 0; i < lens.size(); ++i) {
    std::vector<int32_t> p{2};
    for (int k = 1; k < lens[i]; ++k) p.push_back(3 + (seed * 11 + int(i) * 17 + k * 7) % 61);
    out.push_back(p);
  }
  return out;
}

// Left-padded ids and mask [B, max_length] for the reference path.
inline std::pair<at::Tensor, at::Tensor> padded_batch(const std::vector<std::vector<int32_t>>& prompts, int max_length) {
  const int64_t b = static_cast<int64_t>(prompts.size());
  at::Tensor ids = at::zeros({b, max_length}, at::kLong), mask = at::zeros({b, max_length}, at::kLong);
  for (int64_t r = 0; r < b; ++r) {
    const int64_t n = static_cast<int64_t>(prompts[r].size());
    for (int64_t k = 0; k < n; ++k) {
      ids[r][max_length - n + k] = prompts[r][k];
      mask[r][max_length - n + k] = 1;
    }
  }
  return {ids, mask};
}

}  // namespace ff::test
