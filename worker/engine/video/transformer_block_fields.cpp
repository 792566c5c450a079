#include "worker/engine/video/transformer_block_fields.hpp"

#include "worker/engine/video/block_fields.hpp"

namespace ff::video {
namespace {

namespace rt = ff::engine::rt;

void add_linear(std::vector<std::pair<std::string, at::Tensor*>>& out, const std::string& name,
                LinearWeights& l) {
  out.emplace_back(name + ".weight", &l.weight);
  out.emplace_back(name + ".bias", &l.bias);
}

void add_attention(std::vector<std::pair<std::string, at::Tensor*>>& out, const std::string& name,
                   AttentionWeights& a) {
  add_linear(out, name + ".to_q", a.to_q);
  add_linear(out, name + ".to_k", a.to_k);
  add_linear(out, name + ".to_v", a.to_v);
  add_linear(out, name + ".to_out.0", a.to_out);
  out.emplace_back(name + ".q_norm.weight", &a.q_norm);
  out.emplace_back(name + ".k_norm.weight", &a.k_norm);
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor*>> transformer_block_fields(TransformerBlockWeights& w) {
  std::vector<std::pair<std::string, at::Tensor*>> out;
  out.emplace_back("scale_shift_table", &w.scale_shift_table);
  add_attention(out, "attn1", w.attn1);
  add_attention(out, "attn2", w.attn2);
  add_linear(out, "ff.gate_proj", w.ff_gate);
  add_linear(out, "ff.up_proj", w.ff_up);
  add_linear(out, "ff.down_proj", w.ff_down);
  return out;
}

rt::BlockTensors transformer_block_tensors(const TransformerBlockWeights& w) {
  return block_tensors_of(w, transformer_block_fields);
}

TransformerBlockWeights transformer_block_from(const rt::BlockTensors& b) {
  return struct_from_block<TransformerBlockWeights>(b, transformer_block_fields);
}

std::unique_ptr<rt::BlockStore> make_transformer_block_store(const std::string& component,
                                                             rt::DeviceBackend& backend,
                                                             const std::vector<TransformerBlockWeights>& blocks) {
  std::vector<rt::BlockTensors> tensors;
  tensors.reserve(blocks.size());
  for (const auto& blk : blocks) tensors.push_back(transformer_block_tensors(blk));
  return make_block_store(component, backend, tensors);
}

}  // namespace ff::video
