#include "worker/engine/text/gemma_weights.hpp"

namespace ff::text {

namespace {

template <class W, class T>
std::vector<std::pair<std::string, T*>> named_impl(W& w) {
  return {
      {"input_layernorm.weight", &w.input_layernorm},
      {"self_attn.q_proj.weight", &w.q_proj},
      {"self_attn.k_proj.weight", &w.k_proj},
      {"self_attn.v_proj.weight", &w.v_proj},
      {"self_attn.o_proj.weight", &w.o_proj},
      {"self_attn.q_norm.weight", &w.q_norm},
      {"self_attn.k_norm.weight", &w.k_norm},
      {"post_attention_layernorm.weight", &w.post_attention_layernorm},
      {"pre_feedforward_layernorm.weight", &w.pre_feedforward_layernorm},
      {"mlp.gate_proj.weight", &w.gate_proj},
      {"mlp.up_proj.weight", &w.up_proj},
      {"mlp.down_proj.weight", &w.down_proj},
      {"post_feedforward_layernorm.weight", &w.post_feedforward_layernorm},
  };
}

void check_float_dtype(const io::Checkpoint& ck, const std::string& name, at::ScalarType t) {
  if (t != at::kFloat && t != at::kHalf && t != at::kBFloat16)
    throw io::CheckpointError(ck.file_of(name) + ": tensor '" + name + "' has dtype " + ck.info(name).dtype +
                              ", expected F32, F16 or BF16");
}

}  // namespace

std::vector<std::pair<std::string, at::Tensor*>> GemmaLayerWeights::named() {
  return named_impl<GemmaLayerWeights, at::Tensor>(*this);
}
std::vector<std::pair<std::string, const at::Tensor*>> GemmaLayerWeights::named() const {
  return named_impl<const GemmaLayerWeights, const at::Tensor>(*this);
}

GemmaLayerWeights GemmaLayerWeights::to(at::Device device, at::ScalarType dtype, bool non_blocking) const {
  GemmaLayerWeights out;
  auto src = named();
  auto dst = out.named();
  for (size_t i = 0; i < src.size(); ++i)
    *dst[i].second = src[i].second->to(device, dtype, non_blocking, /*copy=*/false);
  return out;
}

int64_t GemmaLayerWeights::nbytes() const {
  int64_t n = 0;
  for (const auto& [_, t] : named())
    if (t->defined()) n += t->numel() * t->element_size();
  return n;
}

GemmaWeights to(const GemmaWeights& w, at::Device device, at::ScalarType dtype) {
  GemmaWeights o;
  o.embed_tokens = w.embed_tokens.to(device, dtype);
  for (const auto& l : w.layers) o.layers.push_back(l.to(device, dtype));
  o.norm = w.norm.to(device, dtype);
  return o;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> gemma_layer_shapes(const GemmaConfig& c) {
  const int64_t h = c.hidden_size, q = c.num_attention_heads * c.head_dim, kv = c.num_key_value_heads * c.head_dim,
                i = c.intermediate_size, d = c.head_dim;
  return {
      {"input_layernorm.weight", {h}},
      {"self_attn.q_proj.weight", {q, h}},
      {"self_attn.k_proj.weight", {kv, h}},
      {"self_attn.v_proj.weight", {kv, h}},
      {"self_attn.o_proj.weight", {h, q}},
      {"self_attn.q_norm.weight", {d}},
      {"self_attn.k_norm.weight", {d}},
      {"post_attention_layernorm.weight", {h}},
      {"pre_feedforward_layernorm.weight", {h}},
      {"mlp.gate_proj.weight", {i, h}},
      {"mlp.up_proj.weight", {i, h}},
      {"mlp.down_proj.weight", {h, i}},
      {"post_feedforward_layernorm.weight", {h}},
  };
}

std::string gemma_weight_prefix(const io::Checkpoint& ck) {
  for (const char* p : {"model.language_model.", "language_model.model.", "model.", ""})
    if (ck.contains(std::string(p) + "embed_tokens.weight")) return p;
  throw io::CheckpointError(ck.source() +
                            ": missing tensor 'embed_tokens.weight' (looked under prefixes "
                            "'model.language_model.', 'language_model.model.', 'model.', '')");
}

GemmaLayerWeights load_gemma_layer(const io::Checkpoint& ck, const std::string& prefix, const GemmaConfig& c,
                                   int64_t layer, at::ScalarType dtype) {
  GemmaLayerWeights w;
  auto shapes = gemma_layer_shapes(c);
  auto slots = w.named();
  const std::string lp = prefix + "layers." + std::to_string(layer) + ".";
  for (size_t i = 0; i < shapes.size(); ++i) *slots[i].second = ck.get(lp + shapes[i].first, shapes[i].second, dtype);
  return w;
}

GemmaWeights load_gemma_weights(const io::Checkpoint& ck, const GemmaConfig& c) {
  GemmaWeights w;
  const std::string prefix = gemma_weight_prefix(ck);
  const std::string emb = prefix + "embed_tokens.weight";
  at::ScalarType dtype = ck.info(emb).scalar_type;
  check_float_dtype(ck, emb, dtype);
  w.embed_tokens = ck.get(emb, {c.vocab_size, c.hidden_size}, dtype);
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) w.layers.push_back(load_gemma_layer(ck, prefix, c, l, dtype));
  w.norm = ck.get(prefix + "norm.weight", {c.hidden_size}, dtype);
  return w;
}

}  // namespace ff::text
