// Normalisation and kernel-capability helpers shared by the text models.
// Stateless; any thread, any device; inputs are not modified.
#pragma once

#include <ATen/ATen.h>

namespace ff::text {

// x * rsqrt(mean(x^2, last dim) + eps) [* weight], computed in fp32 and rounded once to x's dtype
// (HF/ltx-core semantics). `weight` may be undefined. With libtorch >= 2.4 this is at::rms_norm,
// one fused kernel on CUDA when weight has x's dtype; otherwise the upcast formulation.
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// Whether attention on `device` materialises the [B, H, T, T] scores (the eager fallback) or runs
// a fused kernel that keeps none (scaled_dot_product_attention on CUDA). Used by memory estimates.
bool attention_stores_scores(at::Device device);

// Whether rms_norm on `device` is one fused kernel (no fp32 temporaries of x's size).
bool rms_norm_is_fused(at::Device device);

}  // namespace ff::text
