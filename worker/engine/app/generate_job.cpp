#include "worker/engine/app/generate_job.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/video/png_writer.hpp"
#include "worker/engine/video/y4m_writer.hpp"

namespace ff::engine {
namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// [1, rows, dim] context for the transformers, or undefined when the blob is empty.
at::Tensor context_of(const proto::PromptEmbedding& e, int64_t dim, const char* which, bool required) {
  const std::string what = std::string(which) + " prompt embedding (video)";
  if (e.video.shape.empty() && e.video.data.empty()) {
    if (required) throw video::InvalidRequest(what + " is missing");
    return {};
  }
  at::Tensor t;
  try {
    t = tensor_from_blob(e.video, what);
  } catch (const std::invalid_argument& ex) {
    throw video::InvalidRequest(ex.what());
  }
  if (t.dim() != 2 || t.size(0) < 1 || t.size(1) != dim)
    throw video::InvalidRequest(what + ": expected shape [rows >= 1, " + std::to_string(dim) + "]");
  return t.unsqueeze(0);
}

}  // namespace

std::string job_output_dir(const proto::GenerateRequest& req, const std::string& output_root) {
  if (req.output_dir.empty()) return output_root;
  std::filesystem::path p(req.output_dir);
  return (p.is_absolute() ? p : std::filesystem::path(output_root) / p).string();
}

GenerateOutcome run_generate(const VideoModels& m, const proto::GenerateRequest& req,
                             const std::string& output_root, at::Device device,
                             rt::MemoryMeter& meter, const video::StepHooks& hooks) {
  StageVelocity resident = [&m](int stage, const StageJob& job) {
    return stage == 1 ? video::resident_velocity(m.stage1, job.grids.stage1)
                      : video::resident_velocity(m.stage2, job.grids.stage2);
  };
  return run_generate(m, resident, req, output_root, device, meter, hooks);
}

GenerateOutcome run_generate(const VideoModels& m, const StageVelocity& stages,
                             const proto::GenerateRequest& req, const std::string& output_root,
                             at::Device device, rt::MemoryMeter& meter, const video::StepHooks& hooks) {
  LatentDecode resident = [&m](const at::Tensor& latent) { return video::decode_latent(m.decoder, m.decoder_config, latent); };
  return run_generate(m, stages, resident, req, output_root, device, meter, hooks);
}

GenerateOutcome run_generate(const VideoModels& m, const StageVelocity& stages, const LatentDecode& decode,
                             const proto::GenerateRequest& req, const std::string& output_root,
                             at::Device device, rt::MemoryMeter& meter, const video::StepHooks& hooks) {
  GenerateOutcome out;
  const int64_t dim = m.stage1.config.cross_attention_dim;
  auto positive = context_of(req.positive, dim, "positive", true).to(device);
  auto negative = context_of(req.negative, dim, "negative", false);
  if (negative.defined()) negative = negative.to(device);
  // Byte accounting (counts only on CPU builds): the contexts live through the whole job.
  rt::ScopedCharge contexts(meter, static_cast<int64_t>(positive.nbytes()) +
                                       (negative.defined() ? static_cast<int64_t>(negative.nbytes()) : 0));

  video::VideoRequest vr;
  vr.width = req.params.width;
  vr.height = req.params.height;
  vr.num_frames = req.params.num_frames;
  vr.steps = req.params.num_inference_steps;
  vr.guidance = req.params.guidance_scale;
  vr.seed = req.params.seed;
  if (req.params.frame_rate < 1 || req.params.frame_rate > 240)
    throw video::InvalidRequest("frame_rate must be in 1..240, got " + std::to_string(req.params.frame_rate));
  StageJob job;
  job.grids = video::stage_grids(vr, m.latent_format, m.stage1.config, m.stage2.config);
  job.context_rows = std::max<int64_t>(positive.size(1), negative.defined() ? negative.size(1) : 0);

  // Phase timings and per-component peaks: a stage factory being called marks a stage change.
  auto t0 = Clock::now();
  std::string phase = "stage1";
  meter.reset_peak();
  auto factory = [&](int stage, const char* name) -> video::VelocityFactory {
    return [stage, name, &stages, &job, &out, &meter, &t0, &phase](const video::LatentGrid&) {
      // A new stage starts: account the previous one.
      if (phase != name) {
        out.timings_s[phase] = since(t0);
        out.peak_vram_bytes[phase == "stage1" ? "stage1_transformer" : "stage2_transformer"] = meter.peak_bytes();
        phase = name;
        t0 = Clock::now();
        meter.reset_peak();
      }
      return stages(stage, job);
    };
  };
  auto latent = video::sample_two_stage(factory(1, "stage1"), factory(2, "stage2"), job.grids,
                                        m.sampler, m.latent_format, vr, m.stage1.config, positive,
                                        negative, device, hooks);
  out.timings_s[phase] = since(t0);
  out.peak_vram_bytes["stage2_transformer"] = meter.peak_bytes();

  t0 = Clock::now();
  meter.reset_peak();
  auto frames = decode(latent);  // [F, H, W, 3] u8 CPU
  out.timings_s["decode"] = since(t0);
  out.peak_vram_bytes["vae_decoder"] = meter.peak_bytes();
  if (frames.size(1) != vr.height || frames.size(2) != vr.width || frames.size(0) != vr.num_frames)
    throw std::logic_error("decoder produced " + std::to_string(frames.size(0)) + " frames of " +
                           std::to_string(frames.size(2)) + "x" + std::to_string(frames.size(1)) +
                           ", expected the request's size");

  t0 = Clock::now();
  video::RgbVideo v;
  v.width = static_cast<int>(frames.size(2));
  v.height = static_cast<int>(frames.size(1));
  v.frames = static_cast<int>(frames.size(0));
  v.fps = req.params.frame_rate;
  const auto* px = frames.data_ptr<uint8_t>();
  v.rgb.assign(px, px + frames.numel());
  const std::filesystem::path dir = job_output_dir(req, output_root);
  out.video_path = (dir / (std::to_string(req.job_id) + ".y4m")).string();
  out.preview_path = (dir / (std::to_string(req.job_id) + ".png")).string();
  video::write_y4m(v, out.video_path);
  video::write_png_rgb(v.frame(0), v.width, v.height, out.preview_path);
  out.timings_s["write"] = since(t0);
  return out;
}

}  // namespace ff::engine
