// TextModelOps for Gemma-3 + LTX-2.3's embeddings processor, over the pure text-model
// functions of worker/engine/text/. Block layouts (names inside a BlockTensors):
//   text block i:   the layer's HF suffixes ("self_attn.q_proj.weight", ...) plus "fe_video" and
//                   "fe_audio": the feature-extractor slices [out, hidden] of hidden state i+1
//   text fixed:     "norm" (final norm), "fe_video"/"fe_audio" of hidden state 0,
//                   "fe_video_bias"/"fe_audio_bias"
//   connector block: one connector block (fields of text::ConnectorBlockWeights by member name);
//                   the video connector's blocks first, then the audio connector's
//   connector fixed: "video_registers", "audio_registers"
#pragma once

#include <map>
#include <tuple>

#include <memory>

#include "worker/engine/encode/text_model_ops.hpp"
#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/embeddings_processor_config.hpp"
#include "worker/engine/text/gemma_weights.hpp"

namespace ff::engine::encode {

// The (name, member) pairs of a connector block, in a fixed order.
std::vector<std::pair<std::string, at::Tensor*>> connector_block_fields(text::ConnectorBlockWeights& w);

// Packs / unpacks the block forms above.
rt::BlockTensors text_block_tensors(const text::GemmaLayerWeights& layer, const at::Tensor& fe_video,
                                    const at::Tensor& fe_audio);
text::GemmaLayerWeights gemma_layer_from_block(const rt::BlockTensors& b);
rt::BlockTensors connector_block_tensors(const text::ConnectorBlockWeights& w);
text::ConnectorBlockWeights connector_block_from(const rt::BlockTensors& b);

class GemmaLtxOps final : public TextModelOps {
 public:
  GemmaLtxOps(text::GemmaConfig gemma, text::EmbeddingsProcessorConfig processor, at::ScalarType dtype);
  EncoderDims dims() const override;
  int num_layers() const override { return static_cast<int>(g_.num_hidden_layers); }
  int num_connector_blocks(int m) const override {
    return static_cast<int>(m == 0 ? p_.video.num_layers : p_.audio.num_layers);
  }
  int64_t vocab_size() const override { return g_.vocab_size; }
  int64_t pad_token_id() const override { return g_.pad_token_id; }
  at::ScalarType compute_dtype() const override { return dtype_; }
  at::Tensor embed(const at::Tensor& table, const at::Tensor& ids, at::Device dev) const override;
  std::unique_ptr<WindowContext> window_context(const at::Tensor& real, int first_position,
                                                at::Device dev) const override;
  at::Tensor layer(const rt::BlockTensors& w, int i, const at::Tensor& hidden, const WindowContext& ctx) const override;
  at::Tensor final_norm(const rt::BlockTensors& fixed, const at::Tensor& hidden) const override;
  void fold(const rt::BlockTensors& slices, int s, const at::Tensor& hidden, const WindowContext& ctx,
            at::Tensor& acc_video, at::Tensor& acc_audio) const override;
  std::pair<at::Tensor, at::Tensor> features(const rt::BlockTensors& fixed, const at::Tensor& acc_video,
                                             const at::Tensor& acc_audio, const at::Tensor& real_full) const override;
  at::Tensor connector_begin(const rt::BlockTensors& fixed, int m, const at::Tensor& features,
                             const at::Tensor& real_full) const override;
  at::Tensor connector_block(const rt::BlockTensors& w, int m, int j, const at::Tensor& x,
                             const at::Tensor& real_full) const override;
  at::Tensor connector_end(const rt::BlockTensors& fixed, int m, const at::Tensor& x) const override;

  const text::GemmaConfig& gemma() const { return g_; }
  const text::EmbeddingsProcessorConfig& processor() const { return p_; }

 private:
  text::GemmaConfig g_;
  text::EmbeddingsProcessorConfig p_;
  at::ScalarType dtype_;
  // Connector RoPE tables per (modality, rows, dtype, device): built once (on the host, then
  // uploaded) instead of per block, so the connector blocks run without host synchronisation.
  // Engine thread only.
  mutable std::map<std::tuple<int, int64_t, int, std::string>, text::ConnectorRope> rope_cache_;
};

}  // namespace ff::engine::encode
