// The math of a prompt encoder (Gemma-3 decoder layers + LTX feature extractor + connectors), cut
// at the points where the pipeline interleaves streaming: one decoder layer, one hidden state's
// contribution to the feature-extractor projections, one connector block. Implementations hold
// no weights of their own: every call gets the weights it needs (views into the host slab, a GPU
// slot or a resident copy), so the same math runs on resident or streamed weights.
// The Gemma/LTX implementation is gemma_ltx_ops.hpp; tests bring their own.
#pragma once

#include <ATen/ATen.h>

#include <memory>
#include <string>
#include <vector>

#include "worker/engine/encode/micro_batches.hpp"
#include "worker/engine/encode/working_set.hpp"
#include "worker/engine/runtime/block_layout.hpp"

namespace ff::engine::encode {

// Per-micro-batch state the math needs besides the hidden states (positions, RoPE tables,
// masks), built once per pass by TextModelOps::window_context. Opaque to the pipeline.
struct WindowContext {
  virtual ~WindowContext() = default;
};

class TextModelOps {
 public:
  virtual ~TextModelOps() = default;
  virtual EncoderDims dims() const = 0;
  virtual int num_layers() const = 0;
  // Connector blocks of modality m (0 video, 1 audio).
  virtual int num_connector_blocks(int m) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t pad_token_id() const = 0;
  virtual at::ScalarType compute_dtype() const = 0;

  // Hidden state 0 for token ids [B, W] (CPU int64, left-padded with the pad id): the embedding
  // rows gathered on the host from `table` (CPU [vocab, hidden]) and scaled, then moved to `dev`.
  virtual at::Tensor embed(const at::Tensor& table, const at::Tensor& ids, at::Device dev) const = 0;
  // Masks, positions and RoPE tables for a window whose column c is padded position
  // first_position + c; real: [B, W] bool on the device (true = real token).
  virtual std::unique_ptr<WindowContext> window_context(const at::Tensor& real, int first_position,
                                                        at::Device dev) const = 0;
  // Decoder layer i on hidden [B, W, hidden]; returns the new hidden state.
  virtual at::Tensor layer(const rt::BlockTensors& w, int i, const at::Tensor& hidden,
                           const WindowContext& ctx) const = 0;
  // The final norm (fixed weights) of the last layer's output: hidden state num_layers().
  virtual at::Tensor final_norm(const rt::BlockTensors& fixed, const at::Tensor& hidden) const = 0;
  // Adds hidden state s's contribution to the feature-extractor projections: acc_video
  // [B, W, video_dim] and acc_audio [B, W, audio_dim], fp32. `slices` holds that state's slice of
  // the projection weights (a block for s >= 1, the fixed weights for s = 0).
  virtual void fold(const rt::BlockTensors& slices, int s, const at::Tensor& hidden,
                    const WindowContext& ctx, at::Tensor& acc_video, at::Tensor& acc_audio) const = 0;
  // Full-length feature-extractor outputs [B, max_length, dim] (compute dtype) from the window
  // accumulators: biases added, pad positions (inside and outside the window) as the reference
  // defines them. real_full: [B, max_length] bool.
  virtual std::pair<at::Tensor, at::Tensor> features(const rt::BlockTensors& fixed, const at::Tensor& acc_video,
                                                     const at::Tensor& acc_audio,
                                                     const at::Tensor& real_full) const = 0;
  // Connector m: input preparation (e.g. registers in place of pads), block j, final step.
  virtual at::Tensor connector_begin(const rt::BlockTensors& fixed, int m, const at::Tensor& features,
                                     const at::Tensor& real_full) const = 0;
  virtual at::Tensor connector_block(const rt::BlockTensors& w, int m, int j, const at::Tensor& x,
                                     const at::Tensor& real_full) const = 0;
  virtual at::Tensor connector_end(const rt::BlockTensors& fixed, int m, const at::Tensor& x) const = 0;
};

}  // namespace ff::engine::encode
