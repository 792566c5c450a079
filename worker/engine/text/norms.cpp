#include "worker/engine/text/norms.hpp"

#include "worker/engine/runtime/torch_version.hpp"

namespace ff::text {

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

}  // namespace ff::text
