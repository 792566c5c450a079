#include "worker/engine/ltx2/pipelines.hpp"

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>

#include "worker/engine/ltx2/diffusion_step.hpp"
#include "worker/engine/ltx2/schedulers.hpp"

namespace ff::ltx2 {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// One stream's diffusion state (ltx-core LatentState, patchified, no conditioning).
struct Stream {
  at::Tensor latent;     // [1, N, C] state dtype
  at::Tensor clean;      // [1, N, C] the latent before noise
  at::Tensor mask;       // [1, N, 1] float32, all ones (text-to-video)
  at::Tensor positions;  // [1, P, N, 2] float32
  at::Tensor context;    // [1, T, D] positive context
};

// create_noised_state: the initial latent (zeros when undefined), noised with the next draw.
Stream make_stream(const PipelineRun& run, const NoiseFn& noise, NoiseDraw which, at::Tensor initial,
                   int64_t tokens, int64_t width, at::Tensor positions, const at::Tensor& context,
                   double noise_scale) {
  const auto opts = at::TensorOptions().dtype(run.dtype).device(run.device);
  Stream s;
  s.latent = initial.defined() ? initial.to(opts) : at::zeros({1, tokens, width}, opts);
  s.clean = s.latent.clone();
  s.mask = at::ones({1, tokens, 1}, opts.dtype(at::kFloat));
  s.positions = positions.to(run.device);
  s.context = context.to(opts);
  at::Tensor n = noise(which, s.latent.sizes(), run.dtype, run.device);
  if (!n.defined() || !n.sizes().equals(s.latent.sizes())) {
    throw std::invalid_argument("pipelines: noise draw " + std::to_string(static_cast<int>(which)) +
                                " must have shape " + shape_str(s.latent.sizes()));
  }
  s.latent = noise_latent(s.latent, s.clean, s.mask, n.to(opts), noise_scale);
  return s;
}

struct Guidance {
  GuiderParams video, audio;
  at::Tensor video_negative, audio_negative;
};

std::vector<PassRequest> passes_for(const Guidance* g, const Stream& v, const Stream& a) {
  std::vector<PassRequest> out;
  const std::vector<PassKind> kinds = g ? plan_passes(g->video, g->audio) : std::vector<PassKind>{PassKind::kCond};
  for (PassKind k : kinds) {
    PassRequest p;
    p.kind = k;
    p.video_context = v.context;
    p.audio_context = a.context;
    if (k == PassKind::kUncond) {
      p.video_context = g->video_negative;
      p.audio_context = g->audio_negative;
    } else if (k == PassKind::kPerturbed) {
      if (g->video.needs_perturbed()) p.perturbation.skip_video_self_attention_blocks = g->video.stg_blocks;
      if (g->audio.needs_perturbed()) p.perturbation.skip_audio_self_attention_blocks = g->audio.stg_blocks;
    } else if (k == PassKind::kIsolated) {
      p.perturbation.skip_cross_modal = true;
    }
    out.push_back(std::move(p));
  }
  return out;
}

// The Euler loop of one stage (euler_denoising_loop with FactoryGuidedDenoiser when `guidance`,
// else SimpleDenoiser).
void run_stage(int stage, const std::vector<float>& sigmas, Stream& v, Stream& a, const Guidance* guidance,
               const DenoiseFn& denoise, const StepHooks& hooks) {
  const std::string phase = "stage" + std::to_string(stage);
  const int64_t steps = static_cast<int64_t>(sigmas.size()) - 1;
  at::Tensor last_v, last_a;
  for (int64_t i = 0; i < steps; ++i) {
    if (hooks.cancelled && hooks.cancelled()) throw Cancelled(phase, static_cast<int>(i));
    at::Tensor dv, da;
    if (guidance && guidance->video.skips_step(i) && guidance->audio.skips_step(i)) {
      dv = last_v;
      da = last_a;
    } else {
      const double sigma = sigmas[static_cast<size_t>(i)];
      const at::Tensor step_sigma = at::full({1}, sigma, v.mask.options());
      StepRequest req;
      req.stage = stage;
      req.step = i;
      req.total_steps = steps;
      req.video = {v.latent, v.mask * sigma, step_sigma, v.positions, v.context};
      req.audio = {a.latent, a.mask * sigma, step_sigma, a.positions, a.context};
      req.passes = passes_for(guidance, v, a);
      std::vector<AVVelocity> vel = denoise(req);
      if (vel.size() != req.passes.size()) {
        throw std::invalid_argument(phase + ": the denoiser returned " + std::to_string(vel.size()) +
                                    " results for " + std::to_string(req.passes.size()) + " passes");
      }
      at::Tensor xv[4], xa[4];  // by PassKind
      for (size_t k = 0; k < vel.size(); ++k) {
        if (!vel[k].video.defined() || !vel[k].video.sizes().equals(v.latent.sizes()) || !vel[k].audio.defined() ||
            !vel[k].audio.sizes().equals(a.latent.sizes())) {
          throw std::invalid_argument(phase + ": the denoiser's " + pass_kind_name(req.passes[k].kind) +
                                      " velocities do not match the latents' shapes");
        }
        const int slot = static_cast<int>(req.passes[k].kind);
        xv[slot] = to_denoised(v.latent, vel[k].video, req.video.sigma);
        xa[slot] = to_denoised(a.latent, vel[k].audio, req.audio.sigma);
      }
      if (guidance) {
        dv = guide(guidance->video, xv[0], xv[1], xv[2], xv[3]);
        da = guide(guidance->audio, xa[0], xa[1], xa[2], xa[3]);
      } else {
        dv = xv[0];
        da = xa[0];
      }
      last_v = dv;
      last_a = da;
    }
    v.latent = euler_step(v.latent, blend_with_clean(dv, v.mask, v.clean), sigmas, static_cast<size_t>(i));
    a.latent = euler_step(a.latent, blend_with_clean(da, a.mask, a.clean), sigmas, static_cast<size_t>(i));
    if (hooks.progress) hooks.progress(phase, static_cast<int>(i + 1), static_cast<int>(steps));
  }
}

void check_context(const at::Tensor& t, const char* name) {
  if (!t.defined() || t.dim() != 3 || t.size(0) != 1) {
    throw std::invalid_argument(std::string("pipelines: context ") + name + " must be [1, T, D]");
  }
}

// Both drivers: stage 1 (guided or not), upsample, stage 2 (not guided).
SampleResult run_pipeline(const PipelineRun& run, const PromptContexts& ctx, const std::vector<float>& stage1_sigmas,
                          const Guidance* guidance, const DenoiseFn& stage1, const UpsampleFn& upsample,
                          const DenoiseFn& stage2, bool keep_stage2_audio) {
  const PipelineParams& p = run.params;
  p.validate(run.num_layers);
  check_context(ctx.video, "video");
  check_context(ctx.audio, "audio");
  if (!stage1 || !stage2 || !upsample) throw std::invalid_argument("pipelines: a callback is empty");
  const NoiseFn noise = run.noise ? run.noise : seeded_noise(p.seed, run.device);
  const LatentLayout& L = run.layout;

  const VideoLatentGrid g1 = video_latent_grid(p.frames, p.height / 2, p.width / 2, L.video_scale);
  const VideoLatentGrid g2 = video_latent_grid(p.frames, p.height, p.width, L.video_scale);
  const int64_t audio_t = audio_latent_frames(p.frames, p.fps, L.audio_timing);
  const at::Tensor audio_pos = audio_positions(audio_t, 1, L.audio_timing);

  Stream v = make_stream(run, noise, NoiseDraw::kStage1Video, {}, g1.tokens(), L.video_channels,
                         video_positions(g1.frames, g1.height, g1.width, p.fps, L.video_scale), ctx.video, 1.0);
  Stream a = make_stream(run, noise, NoiseDraw::kStage1Audio, {}, audio_t, L.audio_token_width(), audio_pos,
                         ctx.audio, 1.0);
  run_stage(1, stage1_sigmas, v, a, guidance, stage1, run.hooks);

  SampleResult r;
  r.stage1_video = unpatchify_video(v.latent, g1.frames, g1.height, g1.width);
  r.stage1_audio = unpatchify_audio(a.latent, L.audio_channels, L.audio_mel_bins);
  r.upsampled = upsample(r.stage1_video);
  const std::vector<int64_t> want{1, L.video_channels, g2.frames, g2.height, g2.width};
  if (!r.upsampled.defined() || !r.upsampled.sizes().equals(want)) {
    throw std::invalid_argument("pipelines: the upsampler must return " + shape_str(want));
  }

  const std::vector<float>& s2 = stage2_sigmas();
  const double scale = static_cast<double>(s2.front());
  Stream v2 = make_stream(run, noise, NoiseDraw::kStage2Video, patchify_video(r.upsampled), g2.tokens(),
                          L.video_channels, video_positions(g2.frames, g2.height, g2.width, p.fps, L.video_scale),
                          ctx.video, scale);
  Stream a2 = make_stream(run, noise, NoiseDraw::kStage2Audio, a.latent, audio_t, L.audio_token_width(), audio_pos,
                          ctx.audio, scale);
  run_stage(2, s2, v2, a2, nullptr, stage2, run.hooks);

  r.video = unpatchify_video(v2.latent, g2.frames, g2.height, g2.width);
  r.stage2_audio = unpatchify_audio(a2.latent, L.audio_channels, L.audio_mel_bins);
  r.audio = keep_stage2_audio ? r.stage2_audio : r.stage1_audio;
  return r;
}

}  // namespace

NoiseFn seeded_noise(int64_t seed, at::Device device) {
  auto gen = std::make_shared<at::Generator>(at::globalContext().defaultGenerator(device).clone());
  {
    std::lock_guard<std::mutex> lock(gen->mutex());
    gen->set_current_seed(static_cast<uint64_t>(seed));
  }
  // at::randn takes the generator's lock itself. Drawn in float32 and rounded: on CUDA this equals
  // a bf16 draw (checked on the H200), and libtorch 1.13's CPU bf16 normal_ deadlocks on the
  // generator's lock.
  return [gen](NoiseDraw, at::IntArrayRef shape, at::ScalarType dtype, at::Device d) {
    return at::randn(shape, *gen, at::TensorOptions().dtype(at::kFloat).device(d)).to(dtype);
  };
}

SampleResult run_two_stages(const PipelineRun& run, const PromptContexts& ctx, const DenoiseFn& stage1,
                            const UpsampleFn& upsample, const DenoiseFn& stage2) {
  run.params.validate(run.num_layers);
  Guidance g{run.params.video_guider, run.params.audio_guider, ctx.video_negative, ctx.audio_negative};
  const at::ScalarType dt = run.dtype;
  if (g.video.needs_uncond() || g.audio.needs_uncond()) {
    check_context(ctx.video_negative, "video_negative");
    check_context(ctx.audio_negative, "audio_negative");
    g.video_negative = ctx.video_negative.to(run.device, dt);
    g.audio_negative = ctx.audio_negative.to(run.device, dt);
  }
  return run_pipeline(run, ctx, ltx2_sigmas(run.params.steps), &g, stage1, upsample, stage2,
                      /*keep_stage2_audio=*/false);
}

SampleResult run_distilled(const PipelineRun& run, const PromptContexts& ctx, const DenoiseFn& denoise,
                           const UpsampleFn& upsample) {
  return run_pipeline(run, ctx, distilled_sigmas(), nullptr, denoise, upsample, denoise,
                      /*keep_stage2_audio=*/true);
}

}  // namespace ff::ltx2
