// Builds the pipeline's EncoderWeights for Gemma-3 + LTX-2.3's embeddings processor, one layer at
// a time (each layer and its feature-extractor slices are copied into the pinned slab as they
// come, so generating or loading never holds a second full copy).
#pragma once

#include <functional>
#include <string>

#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/gemma_ltx_ops.hpp"

namespace ff::engine::encode {

struct GemmaLtxSource {
  // Decoder layer i (any device, the compute dtype).
  std::function<text::GemmaLayerWeights(int64_t i)> layer;
  // Feature-extractor slices [video_dim, hidden] and [audio_dim, hidden] of hidden state s.
  std::function<std::pair<at::Tensor, at::Tensor>(int64_t s)> fe_slices;
  at::Tensor embed_tokens;            // [vocab, hidden]; moved to the host and kept there
  at::Tensor norm;                    // [hidden]
  at::Tensor fe_video_bias, fe_audio_bias;
  text::ConnectorWeights video_connector, audio_connector;
};

// Fills block stores on `backend` from src. Engine thread, at load.
EncoderWeights build_gemma_ltx_weights(const GemmaLtxSource& src, const text::GemmaConfig& g,
                                       rt::DeviceBackend& backend);

// The text encoder (the Gemma-3 HF folder) and the embeddings processor (the LTX-2.3 checkpoint,
// which holds it beside the transformer): the configs, the ops, and the weights in block stores. Throws
// io::CheckpointError naming the file/tensor on bad input.
struct LoadedEncoder {
  text::GemmaConfig gemma;
  text::EmbeddingsProcessorConfig processor;
  at::ScalarType dtype = at::kBFloat16;
  EncoderWeights weights;
};
LoadedEncoder load_gemma_ltx(const std::string& text_encoder_dir, const std::string& checkpoint,
                             rt::DeviceBackend& backend);

}  // namespace ff::engine::encode
