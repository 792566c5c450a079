#include "worker/engine/encode/connector_steps.hpp"

#include <cmath>

namespace ff::engine::encode {
namespace {

at::Tensor rms(const at::Tensor& x, const at::Tensor* w = nullptr) {
  at::Tensor f = x.to(at::kFloat);
  f = f * at::rsqrt(f.pow(2).mean(-1, true) + 1e-6);
  if (w) f = f * w->to(at::kFloat);
  return f.to(x.scalar_type());
}

at::Tensor lin(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
  return b.defined() ? at::linear(x, w, b) : at::linear(x, w);
}

// 1-D RoPE over fractional positions t / max_pos mapped to [-1, 1]: cos/sin [T, dim/2] (split
// per head) or [T, dim] (interleaved).
std::pair<at::Tensor, at::Tensor> rope_tables(const text::ConnectorConfig& c, int64_t t, at::ScalarType dt,
                                              at::Device dev) {
  const int64_t nf = c.dim() / 2;
  at::Tensor freq;
  if (c.float64_frequencies) {
    at::Tensor lin01 = at::linspace(0.0, 1.0, nf, at::TensorOptions().dtype(at::kDouble));
    freq = (at::pow(at::scalar_tensor(c.theta, at::kDouble), lin01) * M_PI / 2).to(at::kFloat);
  } else {
    at::Tensor lin01 = at::linspace(0.0, 1.0, nf, at::TensorOptions().dtype(at::kFloat));
    freq = at::pow(at::scalar_tensor(c.theta, at::kFloat), lin01);
    freq = freq * M_PI;
    freq = freq / 2;
  }
  freq = freq.to(dev);
  at::Tensor pos = at::arange(t, at::TensorOptions().dtype(at::kFloat).device(dev)) / static_cast<double>(c.max_pos.at(0));
  at::Tensor ang = freq.unsqueeze(0) * (pos * 2 - 1).unsqueeze(-1);
  at::Tensor cs = ang.cos(), sn = ang.sin();
  if (c.rope_type == text::LtxRopeType::Interleaved) {
    cs = cs.repeat_interleave(2, -1);
    sn = sn.repeat_interleave(2, -1);
    if (cs.size(-1) < c.dim()) {
      const int64_t pad = c.dim() - cs.size(-1);
      cs = at::cat({at::ones({t, pad}, cs.options()), cs}, -1);
      sn = at::cat({at::zeros({t, pad}, sn.options()), sn}, -1);
    }
  }
  return {cs.to(dt), sn.to(dt)};
}

at::Tensor rotate(const at::Tensor& x, const at::Tensor& cs, const at::Tensor& sn, const text::ConnectorConfig& c) {
  const int64_t b = x.size(0), t = x.size(1);
  if (c.rope_type == text::LtxRopeType::Interleaved) {
    at::Tensor pairs = x.view({b, t, -1, 2});
    at::Tensor rot = at::stack({-pairs.select(-1, 1), pairs.select(-1, 0)}, -1).view({b, t, -1});
    return x * cs + rot * sn;
  }
  const int64_t h = c.num_heads, half = c.head_dim / 2;
  at::Tensor xs = x.view({b, t, h, 2, half});
  at::Tensor x1 = xs.select(3, 0), x2 = xs.select(3, 1);
  at::Tensor c3 = cs.view({t, h, half}), s3 = sn.view({t, h, half});
  return at::stack({x1 * c3 - x2 * s3, x2 * c3 + x1 * s3}, 3).view({b, t, h * c.head_dim});
}

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, int64_t heads) {
  const int64_t b = q.size(0), t = q.size(1), hd = q.size(2) / heads;
  auto split = [&](const at::Tensor& x) { return x.view({b, t, heads, hd}).transpose(1, 2); };
  at::Tensor qh = split(q), kh = split(k), vh = split(v);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 1)
  at::Tensor o = at::scaled_dot_product_attention(qh, kh, vh, {}, 0.0, false, scale);
#else
  at::Tensor s = at::matmul(qh, kh.transpose(-1, -2)).to(at::kFloat) * scale;
  at::Tensor o = at::matmul(at::softmax(s, -1).to(q.scalar_type()), vh);
#endif
  return o.transpose(1, 2).reshape({b, t, heads * hd});
}

}  // namespace

at::Tensor connector_inputs(const at::Tensor& features, const at::Tensor& lengths, const at::Tensor& registers) {
  const int64_t b = features.size(0), t = features.size(1), r = registers.size(0);
  if (t % r != 0)
    throw std::invalid_argument("connector: sequence length " + std::to_string(t) + " is not a multiple of the " +
                                std::to_string(r) + " registers");
  const at::Device dev = features.device();
  at::Tensor slots = at::arange(t, at::TensorOptions().dtype(at::kLong).device(dev)).unsqueeze(0);
  at::Tensor valid = slots.lt(lengths.to(dev).unsqueeze(-1)).unsqueeze(-1);
  at::Tensor regs = registers.to(dev, features.scalar_type()).repeat({t / r, 1}).unsqueeze(0).expand({b, t, features.size(2)});
  return at::where(valid, features, regs);
}

at::Tensor connector_block_step(const text::ConnectorBlockWeights& w, const at::Tensor& x,
                                const text::ConnectorConfig& c) {
  auto [cs, sn] = rope_tables(c, x.size(1), x.scalar_type(), x.device());
  at::Tensor n = rms(x);
  at::Tensor q = rms(lin(n, w.to_q_w, w.to_q_b), &w.q_norm);
  at::Tensor k = rms(lin(n, w.to_k_w, w.to_k_b), &w.k_norm);
  at::Tensor v = lin(n, w.to_v_w, w.to_v_b);
  at::Tensor a = attention(rotate(q, cs, sn, c), rotate(k, cs, sn, c), v, c.num_heads);
  if (c.gated_attention) {
    at::Tensor g = 2.0 * at::sigmoid(lin(n, w.gate_w, w.gate_b));
    const int64_t b = a.size(0), t = a.size(1);
    a = (a.view({b, t, c.num_heads, c.head_dim}) * g.unsqueeze(-1)).view({b, t, c.dim()});
  }
  at::Tensor y = x + lin(a, w.to_out_w, w.to_out_b);
  return y + lin(at::gelu(lin(rms(y), w.ff_in_w, w.ff_in_b), "tanh"), w.ff_out_w, w.ff_out_b);
}

at::Tensor connector_output(const at::Tensor& x) { return rms(x); }

}  // namespace ff::engine::encode
