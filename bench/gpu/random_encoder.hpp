// Gemma-3-12B + LTX-2.3 embeddings processor with random weights, generated in-process (on the
// GPU when there is one) layer by layer straight into the pipeline's pinned slabs. "full" is the
// real size (48 layers of 427.5 MiB, 262208 x 3840 embedding table, 8-block connectors of widths
// 4096 and 2048); "tiny" is a few-MB stand-in for a CPU smoke run of the benchmark code.
#pragma once

#include <string>

#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/gemma_ltx_ops.hpp"
#include "worker/engine/runtime/device_backend.hpp"

namespace ff::bench {

struct RandomEncoder {
  text::GemmaConfig gemma;
  text::EmbeddingsProcessorConfig processor;
  at::ScalarType dtype = at::kBFloat16;
  engine::encode::EncoderWeights weights;
  double build_seconds = 0;
  int64_t text_block_bytes_total = 0;   // the 48 streamable blocks (layers + feature slices)
  int64_t connector_bytes_total = 0;
};

// Generates on `backend`'s device (temporaries only: one layer at a time), packs into slabs.
RandomEncoder make_random_encoder(const std::string& preset, engine::rt::DeviceBackend& backend, uint64_t seed);

// The ops for it.
std::unique_ptr<engine::encode::GemmaLtxOps> random_encoder_ops(const RandomEncoder& e);

// Prompts of realistic lengths in [lo, hi] tokens (BOS first), deterministic.
std::vector<std::vector<int32_t>> bench_prompts(int count, int lo, int hi, int64_t vocab, uint64_t seed);

}  // namespace ff::bench
