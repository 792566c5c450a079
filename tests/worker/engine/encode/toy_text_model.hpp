// Test double: a small causal encoder with the same shape of math as Gemma + the LTX feature
// extractor and connectors (causal attention with a key-padding mask, positions from the padded
// layout, per-state folding into two projections, registers in place of pads, bidirectional
// connector mixing), in float32, so the pipeline's scheduling can be tested exactly on the CPU.
#pragma once

#include <ATen/ATen.h>

#include <cmath>
#include <memory>

#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/encode/text_model_ops.hpp"
#include "worker/engine/runtime/block_store.hpp"

namespace ff::test {

using ff::engine::encode::EncoderDims;
using ff::engine::encode::WindowContext;
using ff::engine::rt::BlockTensors;

struct ToySizes {
  int64_t vocab = 40, hidden = 16, layers = 5, video = 8, audio = 4, video_blocks = 2, audio_blocks = 1;
};

class ToyTextModel final : public ff::engine::encode::TextModelOps {
 public:
  explicit ToyTextModel(ToySizes s) : s_(s) {}
  struct Ctx final : WindowContext {
    at::Tensor real, allowed, pos;
  };
  EncoderDims dims() const override {
    EncoderDims d;
    d.hidden = s_.hidden; d.intermediate = s_.hidden; d.heads = 1; d.kv_heads = 1; d.head_dim = s_.hidden;
    d.video_dim = s_.video; d.audio_dim = s_.audio; d.connector_width = s_.video; d.connector_mlp = s_.video;
    d.connector_heads = 1; d.compute_bytes = 4;
    return d;
  }
  int num_layers() const override { return static_cast<int>(s_.layers); }
  int num_connector_blocks(int m) const override { return static_cast<int>(m == 0 ? s_.video_blocks : s_.audio_blocks); }
  int64_t vocab_size() const override { return s_.vocab; }
  int64_t pad_token_id() const override { return 0; }
  at::ScalarType compute_dtype() const override { return at::kFloat; }
  at::Tensor embed(const at::Tensor& table, const at::Tensor& ids, at::Device dev) const override {
    return (table.index_select(0, ids.flatten()).view({ids.size(0), ids.size(1), s_.hidden}) *
            std::sqrt(double(s_.hidden))).to(dev);
  }
  std::unique_ptr<WindowContext> window_context(const at::Tensor& real, int first, at::Device dev) const override {
    auto c = std::make_unique<Ctx>();
    const int64_t w = real.size(1);
    c->real = real;
    at::Tensor causal = at::ones({w, w}, at::kBool).tril().to(dev);
    at::Tensor eye = at::eye(w, at::TensorOptions().dtype(at::kBool).device(dev));
    c->allowed = (causal.unsqueeze(0) & real.unsqueeze(1)) | eye.unsqueeze(0);  // [B, W, W]
    at::Tensor pos = at::arange(first, first + w, at::TensorOptions().dtype(at::kFloat).device(dev));
    at::Tensor freq = at::arange(1, s_.hidden + 1, at::TensorOptions().dtype(at::kFloat).device(dev)) * 0.01;
    c->pos = at::sin(pos.unsqueeze(1) * freq.unsqueeze(0));  // [W, H]
    return c;
  }
  at::Tensor layer(const BlockTensors& w, int, const at::Tensor& h, const WindowContext& cx) const override {
    const auto& c = static_cast<const Ctx&>(cx);
    at::Tensor x = h + c.pos.unsqueeze(0);
    at::Tensor q = at::matmul(x, w.get("wq").t()), k = at::matmul(x, w.get("wk").t()), v = at::matmul(x, w.get("wv").t());
    at::Tensor scores = at::matmul(q, k.transpose(1, 2)) / std::sqrt(double(s_.hidden));
    scores = scores.masked_fill(c.allowed.logical_not(), -INFINITY);
    at::Tensor out = h + at::matmul(at::matmul(at::softmax(scores, -1), v), w.get("wo").t());
    return out + at::tanh(at::matmul(out, w.get("w1").t()));
  }
  at::Tensor final_norm(const BlockTensors& fixed, const at::Tensor& h) const override {
    return h * at::rsqrt(h.pow(2).mean(-1, true) + 1e-6) * (1 + fixed.get("final_norm"));
  }
  void fold(const BlockTensors& sl, int, const at::Tensor& h, const WindowContext& cx, at::Tensor& av,
            at::Tensor& aa) const override {
    const auto& c = static_cast<const Ctx&>(cx);
    at::Tensor n = (h * at::rsqrt(h.pow(2).mean(-1, true) + 1e-6)) * c.real.unsqueeze(-1);
    av.add_(at::matmul(n, sl.get("fold_v").t()));
    aa.add_(at::matmul(n, sl.get("fold_a").t()));
  }
  std::pair<at::Tensor, at::Tensor> features(const BlockTensors& fx, const at::Tensor& av, const at::Tensor& aa,
                                             const at::Tensor& real_full) const override {
    const int64_t b = real_full.size(0), l = real_full.size(1), w = av.size(1);
    at::Tensor v = fx.get("bias_v").expand({b, l, s_.video}).clone();
    at::Tensor a = fx.get("bias_a").expand({b, l, s_.audio}).clone();
    v.narrow(1, l - w, w).add_(av);
    a.narrow(1, l - w, w).add_(aa);
    return {v, a};
  }
  at::Tensor connector_begin(const BlockTensors& fx, int m, const at::Tensor& f, const at::Tensor& real) const override {
    return at::where(real.unsqueeze(-1), f, fx.get(m == 0 ? "reg_v" : "reg_a").expand_as(f));
  }
  at::Tensor connector_block(const BlockTensors& w, int, int, const at::Tensor& x, const at::Tensor&) const override {
    return x + at::tanh(at::matmul(x, w.get("w").t())) + 0.1 * x.mean(1, true);
  }
  at::Tensor connector_end(const BlockTensors&, int, const at::Tensor& x) const override {
    return x * at::rsqrt(x.pow(2).mean(-1, true) + 1e-6);
  }

 private:
  ToySizes s_;
};

// Random toy weights in block stores on `be` (seeded).
inline ff::engine::encode::EncoderWeights toy_weights(ToySizes s, ff::engine::rt::DeviceBackend& be, uint64_t seed) {
  using namespace ff::engine;
  at::manual_seed(seed);
  encode::EncoderWeights w;
  auto r = [](std::vector<int64_t> shape, double sd) { return at::randn(shape) * sd; };
  w.embed_table = r({s.vocab, s.hidden}, 0.3);
  std::vector<BlockTensors> blocks;
  for (int64_t i = 0; i < s.layers; ++i) {
    BlockTensors b;
    for (const char* n : {"wq", "wk", "wv", "wo", "w1"}) b.add(n, r({s.hidden, s.hidden}, 0.3));
    b.add("fold_v", r({s.video, s.hidden}, 0.2));
    b.add("fold_a", r({s.audio, s.hidden}, 0.2));
    blocks.push_back(std::move(b));
  }
  std::vector<rt::BlockLayout> layouts;
  for (auto& b : blocks) layouts.push_back(rt::BlockLayout::of(b));
  w.text = std::make_unique<rt::BlockStore>("text_encoder", be, layouts);
  for (size_t i = 0; i < blocks.size(); ++i) w.text->fill(static_cast<int>(i), blocks[i]);
  w.text_fixed.add("final_norm", r({s.hidden}, 0.1));
  w.text_fixed.add("fold_v", r({s.video, s.hidden}, 0.2));
  w.text_fixed.add("fold_a", r({s.audio, s.hidden}, 0.2));
  w.text_fixed.add("bias_v", r({s.video}, 0.1));
  w.text_fixed.add("bias_a", r({s.audio}, 0.1));
  std::vector<BlockTensors> cblocks;
  for (int64_t j = 0; j < s.video_blocks + s.audio_blocks; ++j) {
    const int64_t d = j < s.video_blocks ? s.video : s.audio;
    BlockTensors b;
    b.add("w", r({d, d}, 0.4));
    cblocks.push_back(std::move(b));
  }
  std::vector<rt::BlockLayout> clayouts;
  for (auto& b : cblocks) clayouts.push_back(rt::BlockLayout::of(b));
  w.connectors = std::make_unique<rt::BlockStore>("embeddings_processor", be, clayouts);
  for (size_t j = 0; j < cblocks.size(); ++j) w.connectors->fill(static_cast<int>(j), cblocks[j]);
  w.connector_fixed.add("reg_v", r({s.video}, 0.5));
  w.connector_fixed.add("reg_a", r({s.audio}, 0.5));
  return w;
}

}  // namespace ff::test
