// Device bytes an encode call needs besides the weights, estimated from the model's sizes and the
// micro-batches (an upper bound, used for placement and micro-batch sizing). Torch-free, pure.
#pragma once

#include <cstdint>
#include <vector>

#include "worker/engine/encode/micro_batches.hpp"

namespace ff::engine::encode {

struct EncoderDims {
  int64_t hidden = 0;          // decoder hidden size
  int64_t intermediate = 0;    // MLP size
  int64_t heads = 0;           // query heads
  int64_t kv_heads = 0;
  int64_t head_dim = 0;
  int64_t video_dim = 0;       // feature-extractor outputs per modality (4096, 2048)
  int64_t audio_dim = 0;
  int64_t connector_width = 0; // widest connector (4096)
  int64_t connector_mlp = 0;   // its MLP size
  int64_t connector_heads = 0;
  int64_t compute_bytes = 2;   // bf16
  // What the kernels on the device keep (conservative defaults: the eager CPU fallbacks).
  bool attention_stores_scores = true;  // false for fused attention (SDPA on CUDA)
  bool fused_norms = false;             // true when RMSNorm needs no fp32 copy of its input
};

// Held through the whole text-encoder pass: every micro-batch's hidden state (compute dtype) and
// its fp32 feature-extractor accumulators.
int64_t pass_persistent_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs);
// Transient bytes of one decoder layer on one micro-batch (MLP, attention scores, q/k/v).
int64_t layer_transient_bytes(const EncoderDims& d, const MicroBatch& mb);
// Whole text-encoder pass: persistent + the largest transient.
int64_t text_pass_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs);
// Connector phase over micro-batches of full-length rows (max_length tokens each).
int64_t connector_pass_bytes(const EncoderDims& d, const std::vector<MicroBatch>& mbs);

}  // namespace ff::engine::encode
