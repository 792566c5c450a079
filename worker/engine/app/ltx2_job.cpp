#include "worker/engine/app/ltx2_job.hpp"

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>

#include "common/clip_file.hpp"
#include "worker/engine/app/stage_working_sets.hpp"
#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/layers/layers.hpp"
#include "worker/engine/ltx2/pipelines.hpp"
#include "worker/engine/ltx2/stage_denoiser.hpp"
#include "worker/engine/ltx2/video_decoder_working_set.hpp"

namespace ff::engine {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// [1, rows, dim] on `dev` in `dtype`; undefined when the blob is empty and not required.
at::Tensor context_of(const proto::TensorBlob& blob, int64_t dim, const std::string& what, bool required,
                      at::Device dev, at::ScalarType dtype) {
  if (blob.shape.empty() && blob.data.empty()) {
    if (required) throw std::invalid_argument(what + " is missing");
    return {};
  }
  at::Tensor t = tensor_from_blob(blob, what);
  if (t.dim() != 2 || t.size(0) < 1 || t.size(1) != dim)
    throw std::invalid_argument(what + ": expected shape [rows >= 1, " + std::to_string(dim) + "]");
  return t.unsqueeze(0).to(dev, dtype);
}

ltx2::PipelineParams params_of(const proto::JobParams& p) {
  ltx2::PipelineParams out;
  out.width = p.width;
  out.height = p.height;
  out.frames = p.num_frames;
  out.fps = p.frame_rate;
  out.seed = p.seed;
  out.steps = p.num_inference_steps;
  out.video_guider.cfg_scale = p.video_cfg;
  out.video_guider.stg_scale = p.video_stg;
  out.video_guider.modality_scale = p.video_modality;
  out.video_guider.rescale_scale = p.video_rescale;
  out.audio_guider.cfg_scale = p.audio_cfg;
  out.audio_guider.stg_scale = p.audio_stg;
  out.audio_guider.modality_scale = p.audio_modality;
  out.audio_guider.rescale_scale = p.audio_rescale;
  return out;
}

// The latent layout the checkpoint's VAEs and transformer agree on.
ltx2::LatentLayout latent_layout(const ltx2::LtxModelConfig& c) {
  ltx2::LatentLayout l;
  l.video_channels = c.transformer.in_channels;
  const ltx2::VideoScale s = c.video_decoder.scale();
  l.video_scale = {s.time, s.height, s.width};
  l.audio_channels = c.audio_decoder.z_channels;
  l.audio_mel_bins = c.transformer.audio_in_channels / c.audio_decoder.z_channels;
  l.audio_timing.sample_rate = c.audio_decoder.sample_rate;
  l.audio_timing.hop_length = c.audio_decoder.mel_hop_length;
  return l;
}

// A step's passes for AVStage: each pass's contexts; a pass with the conditional pass's contexts
// that is perturbed only from block k on starts from the conditional pass's state at block k.
std::vector<AVPass> passes_of(const ltx2::StepRequest& r, int64_t num_layers) {
  std::vector<AVPass> out;
  for (const auto& pr : r.passes) {
    AVPass p;
    p.video = r.video;
    p.audio = r.audio;
    p.video.context = pr.video_context;
    p.audio.context = pr.audio_context;
    p.config = pr.perturbation;
    if (!out.empty() && pr.video_context.is_same(out[0].video.context) &&
        pr.audio_context.is_same(out[0].audio.context)) {
      const int64_t k = ltx2::first_perturbed_block(pr.perturbation, num_layers);
      if (k > 0 && k < num_layers) {
        p.fork_of = 0;
        p.fork_block = k;
      }
    }
    out.push_back(std::move(p));
  }
  return out;
}

// Phase bookkeeping: wall time and the meter's peak per phase, one phase at a time.
class Phases {
 public:
  Phases(JobOutcome& out, rt::MemoryMeter& meter) : out_(out), meter_(meter) {}
  void start(const std::string& phase, const std::string& component) {
    stop();
    phase_ = phase;
    component_ = component;
    meter_.reset_peak();
    t0_ = Clock::now();
  }
  void stop() {
    if (phase_.empty()) return;
    out_.timings_s[phase_] += since(t0_);
    auto& peak = out_.peak_vram_bytes[component_];
    peak = std::max(peak, meter_.peak_bytes());
    phase_.clear();
  }
  const std::string& current() const { return phase_; }

 private:
  JobOutcome& out_;
  rt::MemoryMeter& meter_;
  std::string phase_, component_;
  Clock::time_point t0_;
};

}  // namespace

JobOutcome run_ltx2_job(Ltx2Model& m, const EngineConfig& config, const proto::GenerateRequest& req,
                        rt::DeviceBackend& backend, const ltx2::StepHooks& hooks) {
  JobOutcome out;
  if (req.clip_path.empty()) throw std::invalid_argument("generate request has no clip_path");
  const at::Device dev = backend.device();
  const auto& tc = m.config.transformer;
  const bool distilled = m.files.pipeline == ltx2::PipelineKind::kDistilled;

  ltx2::PipelineRun run;
  run.params = params_of(req.params);
  run.dtype = m.dtype;
  run.device = dev;
  run.hooks = hooks;
  run.num_layers = tc.num_layers;
  run.layout = latent_layout(m.config);
  run.params.validate(tc.num_layers);
  const bool guided = !distilled && (run.params.video_guider.needs_uncond() || run.params.audio_guider.needs_uncond());

  ltx2::PromptContexts ctx;
  ctx.video = context_of(req.positive.video, tc.cross_attention_dim, "positive prompt embedding (video)", true, dev, m.dtype);
  ctx.audio = context_of(req.positive.audio, tc.audio_cross_attention_dim, "positive prompt embedding (audio)", true, dev, m.dtype);
  ctx.video_negative = context_of(req.negative.video, tc.cross_attention_dim, "negative prompt embedding (video)", guided, dev, m.dtype);
  ctx.audio_negative = context_of(req.negative.audio, tc.audio_cross_attention_dim, "negative prompt embedding (audio)", guided, dev, m.dtype);
  rt::ScopedCharge contexts(backend.meter(), static_cast<int64_t>(ctx.video.nbytes() + ctx.audio.nbytes()) * 2);

  // Planning figures of each stage's calls.
  const auto& lay = run.layout;
  const auto grid1 = ltx2::video_latent_grid(run.params.frames, run.params.height / 2, run.params.width / 2, lay.video_scale);
  const auto grid2 = ltx2::video_latent_grid(run.params.frames, run.params.height, run.params.width, lay.video_scale);
  const int64_t audio_tokens = ltx2::audio_latent_frames(run.params.frames, run.params.fps, lay.audio_timing);
  const int64_t rows = std::max(ctx.video.size(1), ctx.video_negative.defined() ? ctx.video_negative.size(1) : 0);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(m.dtype));
  const bool scores = layers::attention_stores_scores(dev);
  const int64_t passes1 = distilled ? 1 : static_cast<int64_t>(ltx2::plan_passes(run.params.video_guider, run.params.audio_guider).size());
  const int64_t working1 = m.stage(1).working_bytes(grid1.tokens(), audio_tokens, rows, passes1, elem, scores);
  const int64_t working2 = m.stage(2).working_bytes(grid2.tokens(), audio_tokens, rows, 1, elem, scores);
  const std::optional<ltx2::VideoTilingConfig> tiling = config.vae_tiling.for_video(run.params.height, run.params.width);
  const bool cpu = !dev.is_cuda();
  const int64_t upsample_bytes = upsampler_working_bytes(m.upsampler->model().config, grid1.frames, grid1.height,
                                                         grid1.width, elem, cpu);
  const int64_t mel_frames = std::max<int64_t>(4 * audio_tokens - 3, 1);
  const int64_t audio_bytes = audio_decoder_working_bytes(m.audio_decoder->model().config, audio_tokens,
                                                          run.layout.audio_mel_bins, elem, cpu);
  const int64_t vocoder_bytes = vocoder_working_bytes(m.vocoder->model().config, mel_frames, cpu);
  const int64_t decode_bytes = ltx2::video_decoder_working_set_bytes(m.config.video_decoder, grid2.frames, grid2.height,
                                                                     grid2.width, tiling, elem, !dev.is_cuda());

  Phases phases(out, backend.meter());
  // One denoiser for both stages (the distilled pipeline calls one for both): the request says
  // which stage runs; each stage's first step plans its placement for that stage's grid.
  ltx2::DenoiseFn denoise = [&](const ltx2::StepRequest& r) {
    const int k = r.stage == 1 ? 1 : 2;
    if (r.step == 0) {
      phases.start(k == 1 ? "stage1" : "stage2", k == 1 ? "stage1_transformer" : "stage2_transformer");
      if (k == 1) m.stage(1).plan(working1, m.stage(2).min_extra_bytes(working2));
      else m.stage(2).plan(working2, decode_bytes);
    }
    return m.stage(k).evaluate(passes_of(r, tc.num_layers));
  };
  ltx2::UpsampleFn upsample = [&](const at::Tensor& latent) {
    phases.start("upsample", "spatial_upsampler");
    m.upsampler->stages().plan(upsample_bytes, m.stage(2).min_extra_bytes(working2));
    return m.upsampler->run([&](const ltx2::Upsampler& u, const ltx2::StageHooks& hooks) {
      return ltx2::upsample_video_latent(latent, u, m.video_decoder->mean_of_means(), m.video_decoder->std_of_means(),
                                         hooks);
    });
  };
  const ltx2::SampleResult s = distilled ? ltx2::run_distilled(run, ctx, denoise, upsample)
                                         : ltx2::run_two_stages(run, ctx, denoise, upsample, denoise);

  phases.start("decode", "vae_decoder");
  m.video_decoder->plan(decode_bytes);
  const at::Tensor frames = m.video_decoder->decode_to_uint8(s.video, tiling);
  at::Tensor audio;  // [samples, channels] float32, CPU
  if (req.params.audio) {
    phases.start("decode_audio", "audio_decoder");
    m.audio_decoder->stages().plan(audio_bytes, vocoder_bytes);
    const at::Tensor mel = m.audio_decoder->run([&](const ltx2::AudioDecoderModel& d, const ltx2::StageHooks& hooks) {
      return ltx2::decode_audio_latent(d, s.audio, hooks);
    });
    phases.start("vocode", "vocoder");
    m.vocoder->stages().plan(vocoder_bytes, 0);
    const at::Tensor wave = m.vocoder->run([&](const ltx2::VocoderModel& v, const ltx2::StageHooks& hooks) {
      return ltx2::vocode(v, mel, hooks);
    });
    audio = wave[0].to(at::kCPU, at::kFloat).t().contiguous();
  }
  phases.start("write", "write");
  clip::ClipHeader h;
  h.frames = static_cast<int32_t>(frames.size(0));
  h.height = static_cast<int32_t>(frames.size(1));
  h.width = static_cast<int32_t>(frames.size(2));
  h.fps_num = req.params.frame_rate;
  h.fps_den = 1;
  if (audio.defined()) {
    h.audio_sample_rate = static_cast<int32_t>(ltx2::output_sample_rate(m.vocoder->model()));
    h.audio_channels = static_cast<int32_t>(audio.size(1));
    h.audio_samples = audio.size(0);
  }
  const at::Tensor rgb = frames.contiguous();
  clip::write_clip_file(req.clip_path, h,
                        std::span<const uint8_t>(rgb.data_ptr<uint8_t>(), static_cast<size_t>(rgb.numel())),
                        audio.defined() ? std::span<const float>(audio.data_ptr<float>(), static_cast<size_t>(audio.numel()))
                                        : std::span<const float>());
  phases.stop();
  out.peak_vram_bytes.erase("write");
  out.clip_path = req.clip_path;
  return out;
}

}  // namespace ff::engine
