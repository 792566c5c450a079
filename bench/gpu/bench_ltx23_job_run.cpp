#include "bench/gpu/bench_ltx23_job_run.hpp"

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <unistd.h>

#include "bench/gpu/random_ltx2.hpp"
#include "worker/engine/app/ltx2_job.hpp"
#include "worker/engine/app/tensor_blob.hpp"
#include "worker/engine/layers/layers.hpp"
#include "worker/engine/ltx2/av_positions.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/ltx2/pipeline_params.hpp"

namespace ff::bench {
namespace {

using Clock = std::chrono::steady_clock;
const Clock::time_point kStart = Clock::now();

double now_s() { return std::chrono::duration<double>(Clock::now() - kStart).count(); }

double median_after_first(std::vector<double> v) {
  if (v.size() > 1) v.erase(v.begin());
  return median(v);
}

std::vector<int32_t> prompt_ids(int n, int64_t vocab, int salt) {
  std::vector<int32_t> p{2};  // BOS
  for (int k = 1; k < n; ++k) p.push_back(3 + static_cast<int32_t>((k * 7919 + salt * 104729) % (vocab - 3)));
  return p;
}

const char* job_name(JobKind k) {
  switch (k) {
    case JobKind::kTwoStagesDelta: return "two_stages_lora_delta";
    case JobKind::kTwoStagesFused: return "two_stages_fused";
    case JobKind::kDistilled: return "distilled";
  }
  return "?";
}

}  // namespace

void note(const char* fmt, ...) {
  std::printf("[%7.1f s] ", now_s());
  va_list ap;
  va_start(ap, fmt);
  std::vprintf(fmt, ap);
  va_end(ap);
  std::printf("\n");
  std::fflush(stdout);
}

JobBench::JobBench(const std::string& preset, engine::rt::DeviceBackend& backend, int stage1_steps)
    : preset_(ltx2::published_preset(preset == "full" ? "ltx23-22b" : "tiny")),
      full_(preset == "full"),
      be_(backend),
      steps_(stage1_steps),
      dtype_(full_ ? at::kBFloat16 : at::kFloat),
      max_length_(full_ ? 1024 : 64) {}

JobBench::~JobBench() = default;

Json JobBench::describe() const {
  return {{"frames", full_ ? 121 : 17},
          {"height", full_ ? 1024 : 128},
          {"width", full_ ? 1536 : 192},
          {"stage1_steps", steps_},
          {"max_length", max_length_},
          {"dtype", full_ ? "bf16" : "fp32"},
          {"prompt_tokens", {full_ ? 160 : 20, full_ ? 110 : 12}}};
}

engine::EngineConfig JobBench::config_for(JobKind kind) const {
  using engine::rt::Placement;
  engine::EngineConfig c;
  c.device = be_.device().is_cuda() ? "cuda" : "cpu";
  c.output_root = "/tmp";
  c.placements["text_encoder"] = Placement::kStream;
  c.placements["embeddings_processor"] = Placement::kStream;
  c.placements["stage1_transformer"] = Placement::kResident;
  c.placements["stage2_transformer"] = kind == JobKind::kTwoStagesFused ? Placement::kResident : Placement::kStream;
  c.placements["vae_decoder"] = Placement::kResident;
  c.stage2_lora = kind == JobKind::kTwoStagesFused ? engine::EngineConfig::LoraMode::kFused
                                                    : engine::EngineConfig::LoraMode::kDelta;
  return c;
}

void JobBench::build(Report& rep) {
  note("building the random %s text encoder (Gemma-3 + embeddings processor, pinned slabs)", full_ ? "12B" : "tiny");
  enc_ = std::make_unique<RandomEncoder>(make_random_encoder(full_ ? "full" : "tiny", be_, 1));
  rep.add("encoder_build_seconds", enc_->build_seconds, "s", "random, into pinned slabs");
  rep.add("encoder_text_blocks_gb", enc_->text_block_bytes_total / 1e9, "GB", "streamed");
  const int64_t vocab = enc_->gemma.vocab_size;
  prompts_ = {prompt_ids(full_ ? 160 : 20, vocab, 1), prompt_ids(full_ ? 110 : 12, vocab, 2)};
  engine::encode::PipelineOptions o;
  o.text_placement = engine::rt::Placement::kStream;
  o.processor_placement = engine::rt::Placement::kStream;
  pipe_ = std::make_unique<engine::encode::EncodePipeline>(random_encoder_ops(*enc_), std::move(enc_->weights), be_, o);

  note("building the random LTX-2.3 model (%s)", preset_.name.c_str());
  const auto t0 = Clock::now();
  const ltx2::LtxModelConfig mc = preset_model_config(preset_);
  int64_t lora_bytes = 0;
  {
    const ltx2::Lora dev = random_lora(mc.transformer, preset_.lora_rank, be_.device(), dtype_, lora_bytes);
    lora_ = ltx2::Lora{dev.path, {}};
    for (const auto& [name, f] : dev.pairs) lora_.pairs.emplace(name, ltx2::LoraFactors{f.a.cpu(), f.b.cpu()});
  }
  model_.emplace(make_random_ltx2_model(preset_, ltx2::PipelineKind::kTwoStages, config_for(JobKind::kTwoStagesDelta),
                                        &lora_, dtype_, be_));
  be_.synchronize();
  rep.add("model_build_seconds", std::chrono::duration<double>(Clock::now() - t0).count(), "s",
          "stage 1 + LoRA factors + upsampler + decoders, random");
  rep.add("stage1_weights_gb", model_->stage1->device_bytes() / 1e9, "GB", "resident");
  rep.add("lora_factors_gb", lora_bytes / 1e9, "GB", std::to_string(lora_.pairs.size()) + " Linears, rank " +
                                                         std::to_string(preset_.lora_rank));
  int64_t small = 0;
  for (const auto& [name, st] : model_->stats())
    if (name == "spatial_upsampler" || name == "audio_decoder" || name == "vocoder" || name == "vae_decoder")
      small += st.resident_bytes;
  rep.add("upsampler_decoders_vocoder_gb", small / 1e9, "GB", "resident");
  note("built; allocated on the device: %.2f GB", be_.meter().snapshot().allocated_bytes / 1e9);
}

JobResult JobBench::run_job(JobKind kind, Report& rep) {
  const engine::EngineConfig config = config_for(kind);
  JobResult r;
  r.name = job_name(kind);
  const bool distilled = kind == JobKind::kDistilled;
  if (kind == JobKind::kTwoStagesFused) {
    note("%s: building the fused stage 2 (random second stage + LoRA fused on the device)", r.name.c_str());
    attach_stage2(*model_, config, lora_, be_);
  } else if (distilled) {
    model_->stage2.reset();
    model_->files.pipeline = ltx2::PipelineKind::kDistilled;
    model_->files.distilled_lora.clear();
  }
  std::vector<std::vector<int32_t>> prompts = prompts_;
  if (distilled) prompts.resize(1);

  proto::GenerateRequest req;
  req.job_id = 1;
  if (!full_) {
    req.params.width = 192;
    req.params.height = 128;
    req.params.num_frames = 17;
  }
  req.params.num_inference_steps = steps_;
  req.clip_path = "/tmp/ff_bench_ltx23_job_" + std::to_string(::getpid()) + ".clip";

  be_.synchronize();
  be_.meter().reset_peak();
  note("%s: start (prompt encode of %zu prompts, then run_ltx2_job)", r.name.c_str(), prompts.size());
  const auto t0 = Clock::now();
  auto enc = pipe_->encode(prompts, max_length_);
  auto to_wire = [](engine::encode::EncodedPrompt& e) {
    proto::PromptEmbedding p;
    p.real_tokens = e.real_tokens;
    p.video = engine::blob_from_tensor(e.video.to(at::kBFloat16));
    p.audio = engine::blob_from_tensor(e.audio.to(at::kBFloat16));
    return p;
  };
  req.positive = to_wire(enc[0]);
  if (!distilled) req.negative = to_wire(enc[1]);
  be_.synchronize();
  const double encode_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const int64_t encode_peak = be_.meter().peak_bytes();

  std::map<std::string, std::vector<double>> steps;
  auto last = Clock::now();
  ltx2::StepHooks hooks;
  hooks.progress = [&](const std::string& phase, int done, int total) {
    be_.synchronize();
    const auto t = Clock::now();
    const double dt = std::chrono::duration<double>(t - last).count();
    last = t;
    steps[phase].push_back(dt);
    std::printf("  [%7.1f s] %s %s step %d/%d %.3f s\n", now_s(), r.name.c_str(), phase.c_str(), done, total, dt);
    std::fflush(stdout);
  };
  const auto t1 = Clock::now();
  const engine::JobOutcome out = engine::run_ltx2_job(*model_, config, req, be_, hooks);
  be_.synchronize();
  const double job_s = std::chrono::duration<double>(Clock::now() - t1).count();
  std::remove(req.clip_path.c_str());
  auto timing = [&](const char* k) {
    auto it = out.timings_s.find(k);
    return it == out.timings_s.end() ? 0.0 : it->second;
  };
  r.whole_seconds = encode_s + job_s - timing("write");
  r.stage1_step = median_after_first(steps["stage1"]);
  r.stage2_step = median_after_first(steps["stage2"]);
  note("%s: whole job %.2f s (encode %.2f, run_ltx2_job %.2f, clip write %.2f excluded)", r.name.c_str(),
       r.whole_seconds, encode_s, job_s, timing("write"));

  const std::string p = r.name + "_";
  rep.add(p + "whole_seconds", r.whole_seconds, "s", "prompt encode + run_ltx2_job - clip write");
  rep.add(p + "prompt_encode_seconds", encode_s, "s", std::to_string(prompts.size()) + " prompts, streamed encoder");
  for (const char* k : {"stage1", "upsample", "stage2", "decode", "decode_audio", "vocode", "write"})
    rep.add(p + k + "_seconds", timing(k), "s");
  rep.add(p + "stage1_step_seconds", r.stage1_step, "s", "median of steps 2.." + std::to_string(steps["stage1"].size()));
  rep.add(p + "stage2_step_seconds", r.stage2_step, "s", "median of steps 2.." + std::to_string(steps["stage2"].size()));
  r.peak_bytes = encode_peak;
  rep.add(p + "peak_text_encoder_gb", encode_peak / 1e9, "GB", "prompt encode phase (allocator peak, all resident incl.)");
  for (const auto& [component, bytes] : out.peak_vram_bytes) {
    rep.add(p + "peak_" + component + "_gb", bytes / 1e9, "GB");
    r.peak_bytes = std::max(r.peak_bytes, bytes);
  }
  rep.add(p + "peak_gb", r.peak_bytes / 1e9, "GB", "highest phase peak of the job");
  return r;
}

void JobBench::release() {
  model_.reset();
  pipe_.reset();
  enc_.reset();
  lora_.pairs.clear();
  be_.synchronize();
  note("model and encoder released; allocated on the device: %.2f GB", be_.meter().snapshot().allocated_bytes / 1e9);
}

void JobBench::stage1_weights_steps(Report& rep, int repeats) {
  const ltx2::LtxModelConfig mc = preset_model_config(preset_);
  const auto& tc = mc.transformer;
  const at::Device dev = be_.device();
  const ltx2::VideoScale s = mc.video_decoder.scale();
  const ltx2::VideoScaleFactors scale{s.time, s.height, s.width};
  ltx2::AudioTiming timing;
  timing.sample_rate = mc.audio_decoder.sample_rate;
  timing.hop_length = mc.audio_decoder.mel_hop_length;
  const proto::JobParams jp;
  const int64_t frames = full_ ? jp.num_frames : 17, height = full_ ? jp.height : 128, width = full_ ? jp.width : 192;
  const auto g = ltx2::video_latent_grid(frames, height / 2, width / 2, scale);
  const int64_t audio = ltx2::audio_latent_frames(frames, jp.frame_rate, timing);
  const int64_t rows = max_length_;
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
  const auto opts = at::TensorOptions().dtype(dtype_).device(dev);
  ltx2::ModalityInput v, a;
  v.latent = at::randn({1, g.tokens(), tc.in_channels}, f32).to(dtype_);
  v.sigma = at::full({1, g.tokens()}, 0.9, f32);
  v.step_sigma = at::full({1}, 0.9, f32);
  v.positions = ltx2::video_positions(g.frames, g.height, g.width, jp.frame_rate).to(dev);
  a.latent = at::randn({1, audio, tc.audio_in_channels}, f32).to(dtype_);
  a.sigma = at::full({1, audio}, 0.9, f32);
  a.step_sigma = v.step_sigma;
  a.positions = ltx2::audio_positions(audio, 1, timing).to(dev);
  const at::Tensor pos[2] = {at::randn({1, rows, tc.cross_attention_dim}, opts),
                             at::randn({1, rows, tc.audio_cross_attention_dim}, opts)};
  const at::Tensor neg[2] = {at::randn({1, rows, tc.cross_attention_dim}, opts),
                             at::randn({1, rows, tc.audio_cross_attention_dim}, opts)};
  const int64_t stg = std::min<int64_t>(28, tc.num_layers - 1);
  std::vector<engine::AVPass> passes(4);
  for (auto& x : passes) {
    x.video = v;
    x.audio = a;
    x.video.context = pos[0];
    x.audio.context = pos[1];
  }
  passes[1].video.context = neg[0];
  passes[1].audio.context = neg[1];
  passes[2].config.skip_video_self_attention_blocks = {stg};
  passes[2].config.skip_audio_self_attention_blocks = {stg};
  passes[2].fork_of = 0;
  passes[2].fork_block = stg;
  passes[3].config.skip_cross_modal = true;

  for (const bool fp8 : {false, true}) {
    const std::string p = fp8 ? "stage1_fp8_" : "stage1_bf16_";
    if (fp8 && !ltx2::fp8_weights_supported()) {
      note("fp8 weights not supported by this libtorch: skipped");
      rep.add(p + "step_seconds", -1, "s", "not supported here");
      continue;
    }
    int64_t bytes = 0;
    ltx2::AVTransformerWeights w = random_transformer(tc, dev, dtype_, bytes);
    if (fp8) ltx2::cast_linears_to_fp8(ltx2::av_transformer_linears(w, tc));
    engine::AVStage st("stage1_transformer", tc, std::move(w), engine::rt::Placement::kResident, be_,
                          engine::PlanLimits{});
    st.plan(st.working_bytes(g.tokens(), audio, rows, 4, static_cast<int64_t>(c10::elementSize(dtype_)),
                             layers::attention_stores_scores(dev)),
            0);
    be_.synchronize();
    note("%s: weights %.2f GB on the device; timing %d guided steps after a warm-up", p.c_str(),
         st.device_bytes() / 1e9, repeats);
    st.evaluate(passes);
    be_.synchronize();
    be_.meter().reset_peak();
    std::vector<double> t;
    for (int k = 0; k < repeats; ++k) {
      const auto t0 = Clock::now();
      st.evaluate(passes);
      be_.synchronize();
      t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
    }
    rep.add(p + "step_seconds", median(t), "s", "4 guided passes, one sweep (median)");
    rep.add(p + "peak_gb", be_.meter().peak_bytes() / 1e9, "GB", "lone stage 1 + activations");
    rep.add(p + "weights_gb", st.device_bytes() / 1e9, "GB");
  }
}

}  // namespace ff::bench
