#include "worker/engine/video/sampler.hpp"

#include <ATen/CPUGeneratorImpl.h>

namespace ff::video {

at::Tensor euler_sample(const VelocityFn& velocity, at::Tensor x, const std::vector<double>& sigmas,
                        const at::Tensor& positive, const at::Tensor& negative, double guidance,
                        const std::string& phase, const StepHooks& hooks) {
  const int total = static_cast<int>(sigmas.size()) - 1;
  const bool guided = negative.defined() && guidance != 1.0;
  for (int i = 0; i < total; ++i) {
    if (hooks.cancelled && hooks.cancelled()) throw Cancelled(phase, i);
    const double s = sigmas[i], s_next = sigmas[i + 1];
    auto v = velocity(x, s, positive).to(at::kFloat);
    if (guided) {
      auto v_neg = velocity(x, s, negative).to(at::kFloat);
      v = v_neg + guidance * (v - v_neg);
    }
    x = x + (s_next - s) * v;
    if (hooks.progress) hooks.progress(phase, i + 1, total);
  }
  return x;
}

VelocityFn resident_velocity(const StageModel& model, const LatentGrid& grid) {
  const auto& c = model.config;
  const auto& w = model.weights;
  const auto dtype = w.globals.patchify_proj.weight.scalar_type();
  const auto device = w.globals.patchify_proj.weight.device();
  auto rope = std::make_shared<RopeTables>(rope_tables(c, grid, device, dtype));
  return [&c, &w, grid, rope, dtype, device](const at::Tensor& latent, double sigma,
                                             const at::Tensor& context) {
    auto tokens = patchify(latent, c.patch_size_t, c.patch_size).to(device, dtype);
    auto sig = at::full({latent.size(0)}, sigma, at::TensorOptions().dtype(at::kFloat).device(device));
    auto out = transformer_forward(w, c, tokens, context.to(device), sig, *rope);
    return unpatchify(out.to(at::kFloat), c.in_channels, grid, c.patch_size_t, c.patch_size)
        .to(latent.device());
  };
}

StageGrids stage_grids(const VideoRequest& req, const LatentFormat& fmt, const TransformerConfig& s1,
                       const TransformerConfig& s2) {
  auto bad = [](const std::string& m) { throw InvalidRequest(m); };
  if (req.width <= 0 || req.height <= 0 || req.num_frames <= 0)
    bad("width, height and num_frames must be positive");
  if (req.steps <= 0 || req.steps > 1000) bad("num_inference_steps must be in 1..1000, got " + std::to_string(req.steps));
  if (!(req.guidance >= 0.0 && req.guidance <= 100.0)) bad("guidance_scale must be in [0, 100]");
  if ((req.num_frames - 1) % fmt.temporal_scale != 0)
    bad("num_frames must be 1 + a multiple of " + std::to_string(fmt.temporal_scale) + ", got " +
        std::to_string(req.num_frames));
  const int64_t lf = (req.num_frames - 1) / fmt.temporal_scale + 1;
  // Stage 1 runs at half the output size, stage 2 at full size: each latent edge must be a
  // multiple of both stages' patch sizes.
  const int64_t p = std::max(s1.patch_size, s2.patch_size);
  const int64_t unit = 2 * fmt.spatial_scale * p;
  if (req.width % unit || req.height % unit)
    bad("width and height must be multiples of " + std::to_string(unit) + ", got " +
        std::to_string(req.width) + "x" + std::to_string(req.height));
  if (lf % s1.patch_size_t || lf % s2.patch_size_t)
    bad("latent frame count " + std::to_string(lf) + " is not a multiple of the temporal patch size");
  StageGrids g;
  g.stage1 = {lf, req.height / (2 * fmt.spatial_scale), req.width / (2 * fmt.spatial_scale),
              fmt.temporal_scale, 2 * fmt.spatial_scale};
  g.stage2 = {lf, req.height / fmt.spatial_scale, req.width / fmt.spatial_scale, fmt.temporal_scale,
              fmt.spatial_scale};
  return g;
}

at::Tensor sample_two_stage(const VelocityFactory& stage1, const VelocityFactory& stage2,
                            const StageGrids& grids, const SamplerConfig& sampler,
                            const LatentFormat& fmt, const VideoRequest& req,
                            const TransformerConfig& s1_config, const at::Tensor& positive,
                            const at::Tensor& negative, at::Device device, const StepHooks& hooks) {
  at::Generator gen = at::detail::createCPUGenerator(static_cast<uint64_t>(req.seed));
  auto f32 = at::TensorOptions().dtype(at::kFloat);
  const auto& g1 = grids.stage1;
  const auto& g2 = grids.stage2;

  auto noise1 = at::randn({1, fmt.channels, g1.frames, g1.height, g1.width}, gen, f32).to(device);
  const int64_t tokens1 = (g1.frames / s1_config.patch_size_t) * (g1.height / s1_config.patch_size) *
                          (g1.width / s1_config.patch_size);
  auto x = euler_sample(stage1(g1), noise1, stage1_sigmas(req.steps, tokens1, sampler), positive,
                        negative, req.guidance, "stage1", hooks);

  // Stage 2: nearest 2x spatial upsampling, re-noised to the first stage-2 sigma.
  auto up = x.repeat_interleave(2, 3).repeat_interleave(2, 4);
  auto noise2 = at::randn({1, fmt.channels, g2.frames, g2.height, g2.width}, gen, f32).to(device);
  const double s0 = sampler.stage2_sigmas.front();
  auto x2 = (1.0 - s0) * up + s0 * noise2;
  return euler_sample(stage2(g2), x2, sampler.stage2_sigmas, positive, at::Tensor(), 1.0, "stage2",
                      hooks);
}

}  // namespace ff::video
