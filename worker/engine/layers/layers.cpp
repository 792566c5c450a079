#include "worker/engine/layers/layers.hpp"

#include <cmath>
#include <limits>

#include "worker/engine/runtime/torch_version.hpp"

namespace ff::layers {

namespace {
at::Tensor as_type(const at::Tensor& t, at::ScalarType type) {
  return !t.defined() || t.scalar_type() == type ? t : t.to(type);
}
}  // namespace

at::Tensor linear(const at::Tensor& x, const Linear& l) {
  const auto type = x.scalar_type();
  at::Tensor y = at::linear(x, as_type(l.weight, type), as_type(l.bias, type));
  if (l.lora_a.defined())
    y.add_(at::linear(at::linear(x, as_type(l.lora_a, type)), as_type(l.lora_b, type)), l.lora_scale);
  return y;
}

at::Tensor linear_gelu_tanh(const at::Tensor& x, const Linear& l) {
#if FF_TORCH_AT_LEAST(2, 1)
  if (x.is_cuda() && l.bias.defined() && !l.lora_a.defined() && l.weight.scalar_type() == x.scalar_type()) {
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = l.weight.size(0);
    return at::_addmm_activation(l.bias.to(x.scalar_type()), x.reshape({-1, x.size(-1)}), l.weight.t(), 1, 1,
                                 /*use_gelu=*/true)
        .view(shape);
  }
#endif
  return gelu_tanh(linear(x, l));
}

at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
#if FF_TORCH_AT_LEAST(2, 4)
  return at::rms_norm(x, {x.size(-1)}, weight.defined() ? c10::optional<at::Tensor>(weight) : c10::nullopt, eps);
#else
  at::Tensor xf = x.to(at::kFloat);
  at::Tensor y = xf * at::rsqrt(xf.pow(2).mean(-1, true) + eps);
  if (weight.defined()) y = y * weight.to(at::kFloat);
  return y.to(x.scalar_type());
#endif
}

at::Tensor layer_norm(const at::Tensor& x, double eps) {
  return at::layer_norm(x, {x.size(-1)}, {}, {}, eps);
}

at::Tensor pixel_norm(const at::Tensor& x, int64_t dim, double eps) {
  return x / at::sqrt(at::mean(x * x, {dim}, /*keepdim=*/true) + eps);
}

at::Tensor gelu_tanh(const at::Tensor& x) { return at::gelu(x, "tanh"); }

at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::optional<double> scale) {
#if FF_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, k, v, {}, 0.0, false,
                                          scale ? c10::optional<double>(*scale) : c10::nullopt);
#else
  const double s = scale ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  at::Tensor scores = at::matmul(q.to(at::kFloat), k.to(at::kFloat).transpose(-2, -1)) * s;
  return at::matmul(scores.softmax(-1).to(v.scalar_type()), v);
#endif
}

at::Tensor masked_attention(at::Tensor q, at::Tensor k, at::Tensor v, const at::Tensor& mask, double scale) {
#if FF_TORCH_AT_LEAST(2, 5)
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale, /*enable_gqa=*/k.size(1) != q.size(1));
#else
  if (const int64_t groups = q.size(1) / k.size(1); groups > 1) {
    k = k.repeat_interleave(groups, 1);
    v = v.repeat_interleave(groups, 1);
  }
#if FF_TORCH_AT_LEAST(2, 1)
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false, scale);
#else
  at::Tensor scores = (at::matmul(q, k.transpose(-1, -2)) * scale).to(at::kFloat);
  scores = scores.masked_fill(mask.logical_not(), -std::numeric_limits<float>::infinity());
  return at::matmul(at::softmax(scores, -1).to(q.scalar_type()), v);
#endif
#endif
}

bool attention_stores_scores(at::Device device) {
#if FF_TORCH_AT_LEAST(2, 1)
  return !device.is_cuda();
#else
  (void)device;
  return true;
#endif
}

bool rms_norm_is_fused(at::Device device) {
#if FF_TORCH_AT_LEAST(2, 8)
  return device.is_cuda();
#else
  (void)device;
  return false;
#endif
}

at::Tensor split_heads(const at::Tensor& x, int64_t heads) {
  return x.unflatten(-1, {heads, x.size(-1) / heads}).transpose(1, 2);
}

at::Tensor merge_heads(const at::Tensor& x) { return x.transpose(1, 2).flatten(2); }

at::Tensor apply_split_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  const at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  return at::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
}

at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale) {
  return at::addcmul(shift, x, 1 + scale);
}

at::Tensor conv3d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       bool causal_time) {
  const int64_t kt = weight.size(2), kh = weight.size(3), kw = weight.size(4);
  at::Tensor padded = x;
  if (kt > 1) {
    const int64_t before = causal_time ? kt - 1 : kt / 2, after = causal_time ? 0 : kt / 2;
    std::vector<at::Tensor> parts;
    if (before) parts.push_back(x.narrow(2, 0, 1).expand({-1, -1, before, -1, -1}));
    parts.push_back(x);
    if (after) parts.push_back(x.narrow(2, x.size(2) - 1, 1).expand({-1, -1, after, -1, -1}));
    padded = at::cat(parts, 2);
  }
  return at::conv3d(padded, weight, bias, {1, 1, 1}, {0, kh / 2, kw / 2});
}

}  // namespace ff::layers
