#include "worker/engine/text/embeddings_processor.hpp"
#include "worker/engine/text/gemma_model.hpp"
#include "worker/engine/layers/layers.hpp"


#include <cmath>
#include <map>
#include <stdexcept>

namespace ff::text {

namespace {

const char* kVideoProj = "text_embedding_projection.video_aggregate_embed.";
const char* kAudioProj = "text_embedding_projection.audio_aggregate_embed.";
const char* kVideoConn = "model.diffusion_model.video_embeddings_connector.";
const char* kAudioConn = "model.diffusion_model.audio_embeddings_connector.";

struct Slot {
  std::string name;
  std::vector<int64_t> shape;
  at::Tensor* target;
};

std::vector<Slot> connector_slots(ConnectorWeights& w, const ConnectorConfig& c, const std::string& prefix) {
  const int64_t d = c.dim(), f = 4 * d;
  w.blocks.resize(c.num_layers);
  std::vector<Slot> s;
  s.push_back({prefix + "learnable_registers", {c.num_registers, d}, &w.registers});
  for (int64_t i = 0; i < c.num_layers; ++i) {
    ConnectorBlockWeights& b = w.blocks[i];
    const std::string p = prefix + "transformer_1d_blocks." + std::to_string(i) + ".";
    s.push_back({p + "attn1.to_q.weight", {d, d}, &b.to_q_w});
    s.push_back({p + "attn1.to_q.bias", {d}, &b.to_q_b});
    s.push_back({p + "attn1.to_k.weight", {d, d}, &b.to_k_w});
    s.push_back({p + "attn1.to_k.bias", {d}, &b.to_k_b});
    s.push_back({p + "attn1.to_v.weight", {d, d}, &b.to_v_w});
    s.push_back({p + "attn1.to_v.bias", {d}, &b.to_v_b});
    s.push_back({p + "attn1.q_norm.weight", {d}, &b.q_norm});
    s.push_back({p + "attn1.k_norm.weight", {d}, &b.k_norm});
    s.push_back({p + "attn1.to_out.0.weight", {d, d}, &b.to_out_w});
    s.push_back({p + "attn1.to_out.0.bias", {d}, &b.to_out_b});
    if (c.gated_attention) {
      s.push_back({p + "attn1.to_gate_logits.weight", {c.num_heads, d}, &b.gate_w});
      s.push_back({p + "attn1.to_gate_logits.bias", {c.num_heads}, &b.gate_b});
    }
    s.push_back({p + "ff.net.0.proj.weight", {f, d}, &b.ff_in_w});
    if (c.ff_bias) s.push_back({p + "ff.net.0.proj.bias", {f}, &b.ff_in_b});
    s.push_back({p + "ff.net.2.weight", {d, f}, &b.ff_out_w});
    if (c.ff_bias) s.push_back({p + "ff.net.2.bias", {d}, &b.ff_out_b});
  }
  return s;
}

// Raw checkpoint-layout projection tensors, rearranged after loading.
struct RawProjections {
  at::Tensor video_w, video_b, audio_w, audio_b;
};

std::vector<Slot> all_slots(EmbeddingsProcessorWeights& w, RawProjections& raw, const EmbeddingsProcessorConfig& c) {
  std::vector<Slot> s;
  s.push_back({std::string(kVideoProj) + "weight", {c.video_dim, c.flat_dim()}, &raw.video_w});
  s.push_back({std::string(kVideoProj) + "bias", {c.video_dim}, &raw.video_b});
  s.push_back({std::string(kAudioProj) + "weight", {c.audio_dim, c.flat_dim()}, &raw.audio_w});
  s.push_back({std::string(kAudioProj) + "bias", {c.audio_dim}, &raw.audio_b});
  for (auto& x : connector_slots(w.video, c.video, kVideoConn)) s.push_back(std::move(x));
  for (auto& x : connector_slots(w.audio, c.audio, kAudioConn)) s.push_back(std::move(x));
  return s;
}

LayerProjection per_layer(const at::Tensor& weight, const at::Tensor& bias, const EmbeddingsProcessorConfig& c) {
  const int64_t out = weight.size(0);
  return {weight.reshape({out, c.text_hidden, c.num_hidden_states}).permute({2, 0, 1}).contiguous(), bias};
}

void finish_projections(EmbeddingsProcessorWeights& w, const RawProjections& raw, const EmbeddingsProcessorConfig& c) {
  w.features.video = per_layer(raw.video_w, raw.video_b, c);
  w.features.audio = per_layer(raw.audio_w, raw.audio_b, c);
}

constexpr double kNormEps = 1e-6;

at::Tensor plain_rms_norm(const at::Tensor& x) { return layers::rms_norm(x, {}, kNormEps); }

// The weight in x's dtype (exact: the checkpoint stores it in that dtype), so the norm can fuse.
at::Tensor weighted_rms_norm(const at::Tensor& x, const at::Tensor& w) {
  return layers::rms_norm(x, w.to(x.scalar_type()), kNormEps);
}

at::Tensor linear(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}


// cos/sin of the 1-D connector RoPE: [T, dim/2] (split) or [T, dim] (interleaved), in dtype.
std::pair<at::Tensor, at::Tensor> rope_tables(const ConnectorConfig& c, int64_t t, at::ScalarType dtype,
                                              at::Device device) {
  const int64_t dim = c.dim();
  const int64_t nf = dim / 2;  // inner_dim // (2 * number of position dims)
  at::Tensor idx;
  if (c.float64_frequencies) {
    at::Tensor lin = at::linspace(0.0, 1.0, nf, at::TensorOptions().dtype(at::kDouble));
    idx = (at::pow(at::scalar_tensor(c.theta, at::kDouble), lin) * M_PI / 2).to(at::kFloat);
  } else {
    at::Tensor lin = at::linspace(0.0, 1.0, nf, at::TensorOptions().dtype(at::kFloat));
    idx = at::pow(at::scalar_tensor(c.theta, at::kFloat), lin);
    idx = idx * M_PI;
    idx = idx / 2;
  }
  idx = idx.to(device);
  at::Tensor pos = at::arange(t, at::TensorOptions().dtype(at::kFloat).device(device));
  at::Tensor frac = pos / static_cast<double>(c.max_pos.at(0));
  at::Tensor freqs = idx.unsqueeze(0) * (frac * 2 - 1).unsqueeze(-1);  // [T, nf]
  at::Tensor cos = freqs.cos(), sin = freqs.sin();
  if (c.rope_type == LtxRopeType::Interleaved) {
    cos = cos.repeat_interleave(2, -1);
    sin = sin.repeat_interleave(2, -1);
    if (cos.size(-1) < dim) {  // dim % 2 leading pad of cos=1, sin=0
      int64_t pad = dim - cos.size(-1);
      cos = at::cat({at::ones({t, pad}, cos.options()), cos}, -1);
      sin = at::cat({at::zeros({t, pad}, sin.options()), sin}, -1);
    }
  }
  return {cos.to(dtype), sin.to(dtype)};
}

// x [B, T, dim].
at::Tensor apply_connector_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                                const ConnectorConfig& c) {
  const int64_t b = x.size(0), t = x.size(1);
  if (c.rope_type == LtxRopeType::Interleaved) {
    at::Tensor pairs = x.view({b, t, -1, 2});
    at::Tensor rot = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).view({b, t, -1});
    return x * cos + rot * sin;
  }
  // Split halves per head, written into one output: o1 = x1 cos - x2 sin, o2 = x2 cos + x1 sin.
  const int64_t h = c.num_heads, half = c.head_dim / 2;
  at::Tensor xs = x.view({b, t, h, 2, half});
  at::Tensor x1 = xs.select(3, 0), x2 = xs.select(3, 1);
  at::Tensor cs = cos.view({t, h, half}), sn = sin.view({t, h, half});
  at::Tensor out = at::empty({b, t, h, 2, half}, x.options());
  at::Tensor o1 = out.select(3, 0), o2 = out.select(3, 1);
  at::mul_out(o1, x1, cs).addcmul_(x2, sn, -1);
  at::mul_out(o2, x2, cs).addcmul_(x1, sn);
  return out.view({b, t, h * c.head_dim});
}

at::Tensor full_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  const int64_t b = q.size(0), t = q.size(1), hd = q.size(2) / heads;
  auto split = [&](const at::Tensor& x) { return x.view({b, t, heads, hd}).transpose(1, 2); };
  at::Tensor qh = split(q), kh = split(k), vh = split(v);
  at::Tensor o = layers::attention(qh, kh, vh);
  return o.transpose(1, 2).reshape({b, t, heads * hd});
}

}  // namespace

std::vector<std::pair<std::string, std::vector<int64_t>>> embeddings_processor_tensor_shapes(
    const EmbeddingsProcessorConfig& c) {
  EmbeddingsProcessorWeights w;
  RawProjections raw;
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const Slot& s : all_slots(w, raw, c)) out.emplace_back(s.name, s.shape);
  return out;
}

EmbeddingsProcessorWeights load_embeddings_processor(const io::Checkpoint& ck, const EmbeddingsProcessorConfig& c) {
  EmbeddingsProcessorWeights w;
  RawProjections raw;
  auto slots = all_slots(w, raw, c);
  const std::string first = slots.front().name;
  at::ScalarType dtype = ck.info(first).scalar_type;
  if (dtype != at::kFloat && dtype != at::kHalf && dtype != at::kBFloat16)
    throw io::CheckpointError(ck.file_of(first) + ": tensor '" + first + "' has dtype " + ck.info(first).dtype +
                              ", expected F32, F16 or BF16");
  for (const Slot& s : slots) *s.target = ck.get(s.name, s.shape, dtype);
  finish_projections(w, raw, c);
  return w;
}

EmbeddingsProcessorWeights embeddings_processor_from_tensors(
    const std::vector<std::pair<std::string, at::Tensor>>& tensors, const EmbeddingsProcessorConfig& c) {
  std::map<std::string, at::Tensor> by_name(tensors.begin(), tensors.end());
  EmbeddingsProcessorWeights w;
  RawProjections raw;
  for (const Slot& s : all_slots(w, raw, c)) {
    auto it = by_name.find(s.name);
    if (it == by_name.end()) throw io::CheckpointError("embeddings processor: missing tensor '" + s.name + "'");
    if (it->second.sizes() != at::IntArrayRef(s.shape))
      throw io::CheckpointError("embeddings processor: tensor '" + s.name + "' has shape " +
                                io::shape_string(it->second.sizes()) + ", expected " + io::shape_string(s.shape));
    *s.target = it->second;
  }
  finish_projections(w, raw, c);
  return w;
}

EmbeddingsProcessorWeights to(const EmbeddingsProcessorWeights& w, at::Device device, at::ScalarType dtype) {
  auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(device, dtype) : t; };
  EmbeddingsProcessorWeights o;
  o.features.video = {mv(w.features.video.weight), mv(w.features.video.bias)};
  o.features.audio = {mv(w.features.audio.weight), mv(w.features.audio.bias)};
  auto conn = [&](const ConnectorWeights& src, ConnectorWeights& dst) {
    dst.registers = mv(src.registers);
    for (const auto& b : src.blocks) {
      dst.blocks.push_back({mv(b.to_q_w), mv(b.to_q_b), mv(b.to_k_w), mv(b.to_k_b), mv(b.to_v_w), mv(b.to_v_b),
                            mv(b.q_norm), mv(b.k_norm), mv(b.to_out_w), mv(b.to_out_b), mv(b.gate_w), mv(b.gate_b),
                            mv(b.ff_in_w), mv(b.ff_in_b), mv(b.ff_out_w), mv(b.ff_out_b)});
    }
  };
  conn(w.video, o.video);
  conn(w.audio, o.audio);
  return o;
}

ProjectionAccumulators feature_accumulators(const FeatureExtractorWeights& w, int64_t rows, at::Device device) {
  auto init = [&](const LayerProjection& p) {
    return p.bias.to(device, at::kFloat).unsqueeze(0).expand({rows, p.bias.size(0)}).contiguous();
  };
  return {init(w.video), init(w.audio)};
}

void feature_accumulate_layer(ProjectionAccumulators& acc, const at::Tensor& hidden, const at::Tensor& row_valid,
                              int64_t layer_index, const FeatureExtractorWeights& w,
                              const EmbeddingsProcessorConfig& c) {
  if (layer_index < 0 || layer_index >= c.num_hidden_states)
    throw std::invalid_argument("feature_accumulate_layer: layer index " + std::to_string(layer_index) +
                                " out of range [0, " + std::to_string(c.num_hidden_states) + ")");
  if (hidden.dim() != 2 || hidden.size(1) != c.text_hidden || hidden.size(0) != acc.video.size(0))
    throw std::invalid_argument("feature_accumulate_layer: hidden must be [" + std::to_string(acc.video.size(0)) +
                                ", " + std::to_string(c.text_hidden) + "], got " + io::shape_string(hidden.sizes()));
  // Normalised in fp32 and rounded once to hidden's dtype, as the reference (which normalises an
  // fp32 copy and casts to the projection's dtype); pad rows contribute nothing.
  at::Tensor n = plain_rms_norm(hidden);
  if (row_valid.defined()) n = n * row_valid.to(n.device(), n.scalar_type()).unsqueeze(-1);
  auto add = [&](at::Tensor& a, const LayerProjection& p) {
    const at::Tensor& wl = p.weight.select(0, layer_index);  // [out, D]
    const double scale = std::sqrt(static_cast<double>(p.weight.size(1)) / static_cast<double>(c.text_hidden));
    a.add_(at::matmul(n.to(wl.scalar_type()), wl.t()), scale);  // accumulated in fp32
  };
  add(acc.video, w.video);
  add(acc.audio, w.audio);
}

std::pair<at::Tensor, at::Tensor> right_pad_order(const at::Tensor& attention_mask) {
  at::Tensor binary = attention_mask.ne(0).to(at::kInt);
  at::Tensor order = std::get<1>(at::sort(binary, /*stable=*/true, /*dim=*/-1, /*descending=*/true));
  return {order, binary.sum(-1).to(at::kLong)};
}

ConnectorRope connector_rope(const ConnectorConfig& c, int64_t seq_len, at::ScalarType dtype, at::Device device) {
  auto [cos, sin] = rope_tables(c, seq_len, dtype, device);
  return {cos, sin};
}

at::Tensor connector_inputs(const at::Tensor& features, const at::Tensor& lengths, const at::Tensor& registers) {
  if (features.dim() != 3 || features.size(2) != registers.size(1))
    throw std::invalid_argument("connector_inputs: features must be [B, T, " + std::to_string(registers.size(1)) +
                                "], got " + io::shape_string(features.sizes()));
  const int64_t b = features.size(0), t = features.size(1), r = registers.size(0);
  if (t % r != 0)
    throw std::invalid_argument("connector: sequence length " + std::to_string(t) +
                                " is not a multiple of the " + std::to_string(r) + " learnable registers");
  const at::Device dev = features.device();
  at::Tensor slots = at::arange(t, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
  at::Tensor valid = slots.lt(lengths.to(dev).unsqueeze(-1)).unsqueeze(-1);  // [B, T, 1]
  at::Tensor regs = registers.to(dev, features.scalar_type()).repeat({t / r, 1}).unsqueeze(0).expand(
      {b, t, features.size(2)});
  return at::where(valid, features, regs);
}

at::Tensor connector_block_forward(const ConnectorBlockWeights& w, const at::Tensor& x, const ConnectorRope& rope,
                                   const ConnectorConfig& c) {
  at::Tensor n = plain_rms_norm(x);
  at::Tensor q = weighted_rms_norm(linear(n, w.to_q_w, w.to_q_b), w.q_norm);
  at::Tensor k = weighted_rms_norm(linear(n, w.to_k_w, w.to_k_b), w.k_norm);
  at::Tensor v = linear(n, w.to_v_w, w.to_v_b);
  q = apply_connector_rope(q, rope.cos, rope.sin, c);
  k = apply_connector_rope(k, rope.cos, rope.sin, c);
  at::Tensor a = full_attention(q, k, v, c.num_heads);
  if (c.gated_attention) {
    at::Tensor gates = 2.0 * at::sigmoid(linear(n, w.gate_w, w.gate_b));  // [B, T, H]
    const int64_t b = a.size(0), t = a.size(1);
    a = (a.view({b, t, c.num_heads, c.head_dim}) * gates.unsqueeze(-1)).view({b, t, c.dim()});
  }
  at::Tensor y = x + linear(a, w.to_out_w, w.to_out_b);
  at::Tensor m = linear(layers::linear_gelu_tanh(plain_rms_norm(y), {w.ff_in_w, w.ff_in_b}), w.ff_out_w, w.ff_out_b);
  return y + m;
}

at::Tensor connector_output(const at::Tensor& x) { return plain_rms_norm(x); }

at::Tensor connector_forward(const ConnectorWeights& w, const at::Tensor& features, const at::Tensor& lengths,
                             const ConnectorConfig& c) {
  if (features.dim() != 3 || features.size(2) != c.dim())
    throw std::invalid_argument("connector_forward: features must be [B, T, " + std::to_string(c.dim()) + "], got " +
                                io::shape_string(features.sizes()));
  at::Tensor x = connector_inputs(features, lengths, w.registers);
  const ConnectorRope rope = connector_rope(c, x.size(1), x.scalar_type(), x.device());
  for (const auto& blk : w.blocks) x = connector_block_forward(blk, x, rope, c);
  return connector_output(x);
}

PromptContexts embeddings_processor_forward(const EmbeddingsProcessorWeights& w,
                                            const std::vector<at::Tensor>& hidden_states,
                                            const at::Tensor& attention_mask, const EmbeddingsProcessorConfig& c) {
  if (static_cast<int64_t>(hidden_states.size()) != c.num_hidden_states)
    throw std::invalid_argument("embeddings_processor_forward: expected " + std::to_string(c.num_hidden_states) +
                                " hidden states, got " + std::to_string(hidden_states.size()));
  const int64_t b = attention_mask.size(0), t = attention_mask.size(1);
  const at::Device dev = w.features.video.weight.device();
  at::Tensor mask = attention_mask.to(dev);
  ProjectionAccumulators acc = feature_accumulators(w.features, b * t, dev);
  at::Tensor rows_valid = mask.reshape({b * t});
  for (int64_t l = 0; l < c.num_hidden_states; ++l)
    feature_accumulate_layer(acc, hidden_states[l].to(dev).reshape({b * t, c.text_hidden}), rows_valid, l,
                             w.features, c);
  auto [order, lengths] = right_pad_order(mask);
  auto reorder = [&](const at::Tensor& a, at::ScalarType dt) {
    at::Tensor f = a.view({b, t, -1}).to(dt);
    return at::gather(f, 1, order.unsqueeze(-1).expand({b, t, f.size(2)}));
  };
  PromptContexts out;
  out.video = connector_forward(w.video, reorder(acc.video, w.video.registers.scalar_type()), lengths, c.video);
  out.audio = connector_forward(w.audio, reorder(acc.audio, w.audio.registers.scalar_type()), lengths, c.audio);
  return out;
}

PromptContexts encode_reference(const GemmaWeights& gemma, const GemmaConfig& gemma_config,
                                const EmbeddingsProcessorWeights& processor, const EmbeddingsProcessorConfig& config,
                                const at::Tensor& input_ids, const at::Tensor& attention_mask) {
  std::vector<at::Tensor> hs = gemma_hidden_states(gemma, input_ids, attention_mask, gemma_config);
  return embeddings_processor_forward(processor, hs, attention_mask, config);
}

}  // namespace ff::text
