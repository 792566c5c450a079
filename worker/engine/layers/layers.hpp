// The building blocks every model family calls: linear, the norms, attention, activations,
// RoPE application, AdaLN modulation, padded convolutions. Models (text/, video/, ltx2/) only
// call these; this is the only place that asks which libtorch it was built against.
//
// Contract for every function: stateless, any thread, any device; inputs are never modified;
// the result has the dtype and device of the main input `x` unless stated otherwise.
#pragma once

#include <ATen/ATen.h>

#include <optional>

namespace ff::layers {

// A linear layer's weights: weight [out, in], bias [out] or undefined. A low-rank delta may ride
// along (a LoRA kept unfused): lora_a [r, in], lora_b [out, r], both defined or both undefined.
struct Linear {
  at::Tensor weight;
  at::Tensor bias;
  at::Tensor lora_a, lora_b;
  double lora_scale = 0.0;
};

// x @ weight^T + bias [+ lora_scale * (x @ lora_a^T) @ lora_b^T], in x's dtype (weights stored in
// another dtype, e.g. fp8 or fp32 tables, are cast per call).
at::Tensor linear(const at::Tensor& x, const Linear& l);

// x * rsqrt(mean(x^2, last dim) + eps) [* weight]: computed in fp32, rounded once to x's dtype
// (HF / ltx-core / torch.nn.RMSNorm semantics). `weight` may be undefined (weightless norm).
// With libtorch >= 2.4 one fused kernel (at::rms_norm).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// LayerNorm over the last dim without affine parameters (torch.nn.LayerNorm(elementwise_affine=False)).
at::Tensor layer_norm(const at::Tensor& x, double eps);

// x / sqrt(mean(x^2 over `dim`) + eps), in x's dtype (ltx-core's PixelNorm).
at::Tensor pixel_norm(const at::Tensor& x, int64_t dim, double eps);

// GELU with the tanh approximation.
at::Tensor gelu_tanh(const at::Tensor& x);

// gelu_tanh(linear(x, l)) without a LoRA delta. On CUDA the bias and the activation run in the
// GEMM's epilogue (at::_addmm_activation's GELU is the tanh form, on the fp32 accumulator).
at::Tensor linear_gelu_tanh(const at::Tensor& x, const Linear& l);

// Unmasked scaled-dot-product attention over q [B, H, Nq, Dh], k/v [B, H, Nk, Dh]; softmax scale
// `scale` or 1/sqrt(Dh). The fused kernel (at::scaled_dot_product_attention) from libtorch 2.0,
// else softmax(q k^T) v with the scores in fp32.
at::Tensor attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                     std::optional<double> scale = std::nullopt);

// Softmax attention with a boolean mask [B, 1, Nq, Nk] (true = attend); q [B, H, Nq, Dh],
// k/v [B, Hkv, Nk, Dh] with grouped queries (each kv head serves H / Hkv consecutive query heads).
// Fused from libtorch 2.1 (native GQA from 2.5); else HF's eager path (scores scaled in the compute
// dtype, softmax in fp32).
at::Tensor masked_attention(at::Tensor q, at::Tensor k, at::Tensor v, const at::Tensor& mask, double scale);

// Whether attention() on `device` materialises the [B, H, Nq, Nk] scores (used by memory
// estimates); false for the fused kernel on CUDA.
bool attention_stores_scores(at::Device device);
// Whether rms_norm() on `device` is one fused kernel (no fp32 temporaries of x's size).
bool rms_norm_is_fused(at::Device device);

// [B, N, H*Dh] -> [B, H, N, Dh] and back.
at::Tensor split_heads(const at::Tensor& x, int64_t heads);
at::Tensor merge_heads(const at::Tensor& x);

// Split ("half") rotary embedding over x [B, H, N, Dh] with cos/sin [B or 1, H, N, Dh/2]:
// the first and second halves of each head rotate as (x1 cos - x2 sin, x2 cos + x1 sin).
// Computed in x's dtype, as ltx-core's apply_split_rotary_emb.
at::Tensor apply_split_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin);

// AdaLN modulation x * (1 + scale) + shift (broadcasting).
at::Tensor modulate(const at::Tensor& x, const at::Tensor& shift, const at::Tensor& scale);

// 3-D convolution, kernel k (odd), stride 1, "same" size: time padded by replicating the edge
// frames (k/2 each side, or k-1 before when `causal_time`), space padded with zeros.
// x [B, C, F, H, W]; weight [Co, C, k, k, k]; bias [Co] or undefined.
at::Tensor conv3d_same(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                       bool causal_time = false);

}  // namespace ff::layers
