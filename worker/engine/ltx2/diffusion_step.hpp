// One deterministic Euler step of LTX-2.3's sampler and the noiser that builds a stage's initial
// state (ltx-core components/diffusion_steps.py EulerDiffusionStep, components/noisers.py
// GaussianNoiser, utils.py to_velocity; ltx-pipelines utils/helpers.py post_process_latent).
//
// Tensors are patchified latents [B, N, C] in the state dtype (bf16 in production, fp32 for
// parity) and a denoise mask [B, N, 1] float32 (1 = generate, 0 = keep the clean latent).
// The rounding points are the reference's: the velocity is rounded to the state dtype before the
// update; the blends and lerps are float32, rounded once at the end.
// Stateless; any thread; tensors on one device.
#pragma once

#include <cstddef>
#include <vector>

#include <ATen/ATen.h>

namespace ff::ltx2 {

// post_process_latent: (denoised * mask + clean * (1 - mask)) in float32, in denoised's dtype.
at::Tensor blend_with_clean(const at::Tensor& denoised, const at::Tensor& denoise_mask,
                            const at::Tensor& clean);

// EulerDiffusionStep.step from sigmas[index] to sigmas[index + 1]:
//   v  = ((x - x0) / sigma) in float32, rounded to x's dtype
//   x' = (x + v * (sigma_next - sigma)) in float32, rounded to x's dtype
// `denoised` is already blended (blend_with_clean). Throws std::invalid_argument when index + 1
// is out of range or sigma is 0.
at::Tensor euler_step(const at::Tensor& sample, const at::Tensor& denoised,
                      const std::vector<float>& sigmas, size_t index);

// GaussianNoiser with a given noise tensor (drawn by the caller in the latent's shape and dtype):
//   y = lerp(latent, noise, noise_scale); y = lerp(clean, y, mask)   (float32), in latent's dtype.
// With a zero latent and noise_scale 1 this is the noise itself (a stage-1 initial state).
at::Tensor noise_latent(const at::Tensor& latent, const at::Tensor& clean, const at::Tensor& denoise_mask,
                        const at::Tensor& noise, double noise_scale);

}  // namespace ff::ltx2
