#include "worker/engine/ltx2/diffusion_step.hpp"

#include <stdexcept>
#include <string>

namespace ff::ltx2 {

at::Tensor blend_with_clean(const at::Tensor& denoised, const at::Tensor& denoise_mask,
                            const at::Tensor& clean) {
  at::Tensor keep = 1.0 - denoise_mask;  // rsub in the mask's dtype (float32)
  return (denoised * denoise_mask + clean.to(at::kFloat) * keep).to(denoised.scalar_type());
}

at::Tensor euler_step(const at::Tensor& sample, const at::Tensor& denoised,
                      const std::vector<float>& sigmas, size_t index) {
  if (index + 1 >= sigmas.size()) {
    throw std::invalid_argument("euler_step: step " + std::to_string(index) + " needs sigmas[" +
                                std::to_string(index + 1) + "], the schedule has " + std::to_string(sigmas.size()));
  }
  const float sigma = sigmas[index];
  const float sigma_next = sigmas[index + 1];
  if (sigma == 0.0f) throw std::invalid_argument("euler_step: sigma is 0 at step " + std::to_string(index));
  const float dt = sigma_next - sigma;  // float32, as the difference of two float32 tensors
  const at::ScalarType dtype = sample.scalar_type();
  const at::Tensor x = sample.to(at::kFloat);
  const at::Tensor velocity = ((x - denoised.to(at::kFloat)) / static_cast<double>(sigma)).to(dtype);
  return (x + velocity.to(at::kFloat) * static_cast<double>(dt)).to(dtype);
}

at::Tensor noise_latent(const at::Tensor& latent, const at::Tensor& clean, const at::Tensor& denoise_mask,
                        const at::Tensor& noise, double noise_scale) {
  if (!noise.sizes().equals(latent.sizes())) {
    throw std::invalid_argument("noise_latent: noise shape differs from the latent's");
  }
  at::Tensor y = at::lerp(latent.to(at::kFloat), noise.to(at::kFloat), noise_scale);
  y = at::lerp(clean.to(at::kFloat), y, denoise_mask);
  return y.to(latent.scalar_type());
}

}  // namespace ff::ltx2
