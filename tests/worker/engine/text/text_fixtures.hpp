// Test helper: the parity fixtures written by tests/worker/engine/text/reference/*.py, opened and decoded.
#pragma once

#include <ATen/ATen.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_model.hpp"

namespace ff::test {

using namespace ff::text;

inline const std::string kFixtures = FF_ENGINE_FIXTURES;

inline double rel_err(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor x = a.to(at::kDouble), y = b.to(at::kDouble);
  return (x - y).norm().item<double>() / std::max(y.norm().item<double>(), 1e-30);
}

// Rows of x [B, T, ...] where mask [B, T] is 1, as [N, ...].
inline at::Tensor valid_rows(const at::Tensor& x, const at::Tensor& mask) { return x.index({mask.to(at::kBool)}); }

struct GemmaFixture {
  io::Checkpoint ck = io::Checkpoint::open(kFixtures + "/gemma3_tiny.safetensors");
  GemmaConfig cfg = io::parse_gemma_config(json::parse(ck.metadata().at("config"), "fixture config"), "fixture config");
  GemmaWeights bf16 = load_gemma_weights(ck, cfg);
  at::Tensor ids = ck.view("input_ids");
  at::Tensor mask = ck.view("attention_mask");
  // The fixture's expected outputs: dtype, the "expected_<tag>.hidden.*" tensors, tolerance.
  struct Run {
    at::ScalarType dtype;
    const char* tag;
    double tol;
  };
  static std::vector<Run> runs() { return {{at::kFloat, "f32", 1e-4}, {at::kBFloat16, "bf16", 2e-2}}; }
};

struct LtxFixture {
  io::Checkpoint ck = io::Checkpoint::open(kFixtures + "/ltx_processor_tiny.safetensors");
  GemmaConfig gemma = io::parse_gemma_config(json::parse(ck.metadata().at("gemma_config"), "fixture gemma_config"), "fixture gemma_config");
  EmbeddingsProcessorConfig cfg_a = parse_embeddings_processor_config(json::parse(ck.metadata().at("config"), "fixture config"), gemma,
                                                                      "fixture config");
  EmbeddingsProcessorConfig cfg_b = parse_embeddings_processor_config(json::parse(ck.metadata().at("config_b"), "fixture config_b"),
                                                                      gemma, "fixture config_b");
  at::Tensor mask = ck.view("attention_mask");
  std::vector<at::Tensor> hidden(at::ScalarType dtype) const {
    std::vector<at::Tensor> hs;
    for (int64_t i = 0; i < gemma.num_hidden_states(); ++i) hs.push_back(ck.view("hidden." + std::to_string(i)).to(dtype));
    return hs;
  }
  // The fixture's expected outputs: config, dtype, the "expected_<tag>.*" tensors, tolerance.
  struct Run {
    const EmbeddingsProcessorConfig* cfg;
    at::ScalarType dtype;
    const char* tag;
    double tol;
  };
  std::vector<Run> runs() const {
    return {{&cfg_a, at::kFloat, "f32", 1e-4}, {&cfg_a, at::kBFloat16, "bf16", 2e-2}, {&cfg_b, at::kFloat, "b_f32", 1e-4}};
  }
};

}  // namespace ff::test
