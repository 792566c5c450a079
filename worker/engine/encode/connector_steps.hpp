// LTX connectors one block at a time, so the embeddings processor can stream block by block
// (text::connector_forward runs a whole connector and needs all of its blocks on the device).
// Same semantics as text::connector_forward (embeddings_processor.hpp): registers in place of
// pads, N blocks of gated attention + MLP with weightless RMSNorms, final weightless RMSNorm.
// tests/streaming checks that begin + blocks + end equals text::connector_forward.
// TODO(text owner): expose per-block connector functions in worker/engine/text/ and use them here.
#pragma once

#include <ATen/ATen.h>

#include "worker/engine/text/embeddings_processor.hpp"

namespace ff::engine::encode {

// Registers (tiled over the sequence) in place of the slots at or after lengths[b]; features
// [B, T, dim] with real tokens first.
at::Tensor connector_inputs(const at::Tensor& features, const at::Tensor& lengths, const at::Tensor& registers);
// One connector block on x [B, T, dim].
at::Tensor connector_block_step(const text::ConnectorBlockWeights& w, const at::Tensor& x,
                                const text::ConnectorConfig& c);
// The final weightless RMSNorm.
at::Tensor connector_output(const at::Tensor& x);

}  // namespace ff::engine::encode
