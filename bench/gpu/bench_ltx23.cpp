// ff_bench_ltx23: LTX-2.3's audio-video transformer at the ltx23-22b preset's real size (48 layers,
// video width 4096, audio 2048; random bf16 weights built on the device) under AVStage, beside
// ltx-core's own LTXModel at the same config measured in the same run (bench/gpu/ltx23_reference.py,
// run as a child process BEFORE this process allocates on the GPU, so the two never share it).
//
// Shapes of a default two-stage 121-frame job: stage 1 at 512x768 (16 x 16 x 24 latent = 6,144
// video tokens) + 126 audio tokens, 1,024 context rows; stage 2 at 1024x1536 (24,576 tokens).
// Measured, median of --repeats after a warm-up:
//   stage 1: one guided step = the 4 passes (cond, uncond, STG at block 28, modality-isolated) in
//            ONE AVStage::evaluate sweep (the STG pass forks from the cond pass at block 28, the
//            uncond/isolated passes share the prepared state); also the same 4 passes without the
//            fork, and one plain pass;
//   stage 2: one pass with the LoRA fused (a second resident stage whose weights had a random
//            rank-384 LoRA fused in, ltx2::fuse_lora on the GPU) and with the LoRA as a delta over
//            stage 1's blocks (AVStage::lora_delta, resident factors);
//   peak VRAM per configuration: the CUDA caching allocator's peak (max allocated), weights included.
// Ratios ours / reference where the reference ran.
//   ops/bench ltx23 [--json FILE] [--device cuda|cpu] [--preset full|tiny] [--repeats N]
//                   [--reference run|skip|FILE]   (run: default on CUDA; FILE: a JSON it wrote)
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "bench/gpu/bench_report.hpp"
#include "bench/gpu/random_ltx2.hpp"
#include "common/cli_flags.hpp"
#include "common/json_fields.hpp"
#include "worker/engine/app/av_stage.hpp"
#include "worker/engine/ltx2/av_positions.hpp"
#include "worker/engine/ltx2/av_transformer_config.hpp"
#include "worker/engine/ltx2/lora.hpp"
#include "worker/engine/ltx2/published_presets.hpp"

using namespace ff;
using namespace ff::engine;

namespace {

using Clock = std::chrono::steady_clock;
constexpr int64_t kStgBlock = 28;     // LTX_2_3_PARAMS stg_blocks
constexpr int64_t kLoraRank = 384;    // ltx-2.3-22b-distilled-lora-384
constexpr int64_t kAudioTokens = 126; // 121 frames at 24 fps: 5.04 s x 25 audio latents/s

struct Measured {
  double seconds = 0;      // median
  int64_t peak_bytes = 0;  // allocator peak over the timed runs
  int64_t base_bytes = 0;  // allocated before them (weights, inputs): peak - base = activations
  std::vector<ltx2::AVVelocity> out;
};

Measured time_it(rt::DeviceBackend& be, const std::function<std::vector<ltx2::AVVelocity>()>& fn, int repeats) {
  Measured m;
  m.out = fn();  // warm-up: kernel/algorithm selection, allocator growth
  be.synchronize();
  m.base_bytes = be.meter().snapshot().allocated_bytes;
  be.meter().reset_peak();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    m.out = fn();
    be.synchronize();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  m.seconds = bench::median(t);
  m.peak_bytes = be.meter().peak_bytes();
  return m;
}

bool finite(const std::vector<ltx2::AVVelocity>& v) {
  for (const auto& x : v)
    if (!x.video.isfinite().all().item<bool>() || !x.audio.isfinite().all().item<bool>()) return false;
  return true;
}

struct Grid {
  int64_t frames, height, width;
  int64_t tokens() const { return frames * height * width; }
};

// One step's inputs on the device: latents, per-token sigmas, positions (batch 1).
struct StepInputs {
  ltx2::ModalityInput video, audio;
};

StepInputs step_inputs(const ltx2::AVTransformerConfig& c, Grid g, at::Device dev, at::ScalarType dtype) {
  const auto f32 = at::TensorOptions().dtype(at::kFloat).device(dev);
  StepInputs s;
  const double sigma = 0.9;
  s.video.latent = at::randn({1, g.tokens(), c.in_channels}, f32).to(dtype);
  s.video.sigma = at::full({1, g.tokens()}, sigma, f32);
  s.video.step_sigma = at::full({1}, sigma, f32);
  s.video.positions = ltx2::video_positions(g.frames, g.height, g.width, 24.0).to(dev);
  s.audio.latent = at::randn({1, kAudioTokens, c.audio_in_channels}, f32).to(dtype);
  s.audio.sigma = at::full({1, kAudioTokens}, sigma, f32);
  s.audio.step_sigma = s.video.step_sigma;
  s.audio.positions = ltx2::audio_positions(kAudioTokens).to(dev);
  return s;
}

// ltx2_job's passes for a guided stage-1 step (cond, uncond, STG, isolated); `fork`: the STG pass
// starts from the cond pass's state at its perturbed block.
std::vector<AVPass> guided_passes(const StepInputs& in, const at::Tensor (&pos)[2], const at::Tensor (&neg)[2],
                                  int64_t stg_block, bool fork) {
  std::vector<AVPass> p(4);
  for (auto& x : p) {
    x.video = in.video;
    x.audio = in.audio;
    x.video.context = pos[0];
    x.audio.context = pos[1];
  }
  p[1].video.context = neg[0];
  p[1].audio.context = neg[1];
  p[2].config.skip_video_self_attention_blocks = {stg_block};
  p[2].config.skip_audio_self_attention_blocks = {stg_block};
  if (fork) {
    p[2].fork_of = 0;
    p[2].fork_block = stg_block;
  }
  p[3].config.skip_cross_modal = true;
  return p;
}

bench::Json run_reference(const std::string& how, int repeats, bool tiny) {
  std::string path = how;
  if (how == "run") {
    path = "/tmp/ff_ltx23_reference_" + std::to_string(::getpid()) + ".json";
    const std::string cmd = "python3 " FF_SOURCE_DIR "/bench/gpu/ltx23_reference.py --json " + path +
                            " --repeats " + std::to_string(repeats) + (tiny ? " --tiny" : "");
    std::printf("reference: %s\n", cmd.c_str());
    std::fflush(stdout);
    const int rc = std::system(cmd.c_str());
    if (rc != 0) throw std::runtime_error("reference run failed (exit " + std::to_string(rc) + "): " + cmd);
  }
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read reference JSON " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return json::parse(ss.str(), "reference JSON " + path);
}

double ref_num(const bench::Json& ref, const char* key) {
  return ref.is_object() && ref.contains(key) && ref[key].is_number() ? ref[key].get<double>() : -1.0;
}

}  // namespace

int main(int argc, char** argv) try {
  bench::BenchArgs args;
  std::string reference = "default";
  CLI::App app("", "ff_bench_ltx23");
  ff::cli::configure(app, "ff_bench_ltx23 [options]");
  bench::add_bench_flags(app, args);
  app.add_option("--reference", reference,
                 "run (bench/gpu/ltx23_reference.py), skip, or FILE (a JSON it wrote); default: run on "
                 "CUDA, skip on CPU")
      ->type_name("run|skip|FILE");
  if (const int rc = bench::parse_bench_flags(app, argc, argv); rc >= 0) return rc;
  const bool full = args.preset == "full";
  const bool cuda = args.device.rfind("cuda", 0) == 0;
  if (reference == "default") reference = cuda ? "run" : "skip";

  // The reference first: its process owns the GPU alone and has exited before we allocate.
  bench::Json ref;
  if (reference != "skip") ref = run_reference(reference, args.repeats, !full);
  const bool have_ref = ref.is_object();

  auto be = rt::make_backend(args.device, 256ll << 30);
  bench::Report rep("ltx23");
  rep.context("device", be->name());
  rep.context("gpu", be->device_name());
  rep.context("preset", args.preset);
  rep.context("repeats", args.repeats);
  if (have_ref) rep.context("reference", ref);

  const ltx2::PublishedPreset preset = ltx2::published_preset(full ? "ltx23-22b" : "tiny");
  const ltx2::AVTransformerConfig tc =
      ltx2::av_transformer_config_from_json(*preset.config.find("transformer"), preset.name + " config.transformer");
  const at::ScalarType dtype = full ? at::kBFloat16 : at::kFloat;
  const at::Device dev = be->device();
  const int64_t rows = full ? 1024 : 16;
  const Grid g1 = full ? Grid{16, 16, 24} : Grid{2, 2, 3};
  const Grid g2 = full ? Grid{16, 32, 48} : Grid{2, 4, 6};
  const int64_t stg_block = std::min<int64_t>(kStgBlock, tc.num_layers - 1);
  const int64_t rank = full ? kLoraRank : 4;
  rep.context("layers", tc.num_layers);
  rep.context("video_width", tc.inner_dim());
  rep.context("audio_width", tc.audio_inner_dim());
  rep.context("context_rows", rows);
  rep.context("stg_block", stg_block);
  rep.context("lora_rank", rank);
  const bool scores = layers::attention_stores_scores(dev);
  const int64_t elem = static_cast<int64_t>(c10::elementSize(dtype));

  const auto opts = at::TensorOptions().dtype(dtype).device(dev);
  const at::Tensor pos[2] = {at::randn({1, rows, tc.cross_attention_dim}, opts),
                             at::randn({1, rows, tc.audio_cross_attention_dim}, opts)};
  const at::Tensor neg[2] = {at::randn({1, rows, tc.cross_attention_dim}, opts),
                             at::randn({1, rows, tc.audio_cross_attention_dim}, opts)};

  // Stage 1 (the base of the LoRA-delta stage 2).
  int64_t weight_bytes = 0;
  auto t0 = Clock::now();
  ltx2::AVTransformerWeights w1 = bench::random_transformer(tc, dev, dtype, weight_bytes);
  be->synchronize();
  rep.add("weights_gb", weight_bytes / 1e9, "GB", "one stage transformer, random, built on the device");
  rep.add("build_seconds", std::chrono::duration<double>(Clock::now() - t0).count(), "s");
  AVStage s1("stage1_transformer", tc, std::move(w1), rt::Placement::kResident, *be, PlanLimits{});

  const StepInputs in1 = step_inputs(tc, g1, dev, dtype);
  s1.plan(s1.working_bytes(g1.tokens(), kAudioTokens, rows, 4, elem, scores), 0);
  rep.add("stage1_video_tokens", static_cast<double>(g1.tokens()), "count");
  rep.add("audio_tokens", static_cast<double>(kAudioTokens), "count");
  const auto step_passes = guided_passes(in1, pos, neg, stg_block, true);
  const Measured st1 = time_it(*be, [&] { return s1.evaluate(step_passes); }, args.repeats);
  rep.add("stage1_step_seconds", st1.seconds, "s", "4 guided passes, one sweep, STG forked at block " +
                                                       std::to_string(stg_block));
  rep.add("stage1_step_peak_gb", st1.peak_bytes / 1e9, "GB", "weights + activations");
  rep.add("stage1_step_activations_gb", (st1.peak_bytes - st1.base_bytes) / 1e9, "GB", "peak - allocated before");
  rep.check("stage1_velocities_finite", finite(st1.out), "4 passes");
  const auto nofork_passes = guided_passes(in1, pos, neg, stg_block, false);
  const Measured st1n = time_it(*be, [&] { return s1.evaluate(nofork_passes); }, args.repeats);
  rep.add("stage1_step_nofork_seconds", st1n.seconds, "s", "same 4 passes, STG pass from block 0");
  const std::vector<AVPass> one{step_passes[0]};
  const Measured p1 = time_it(*be, [&] { return s1.evaluate(one); }, args.repeats);
  rep.add("stage1_pass_seconds", p1.seconds, "s", "one plain pass");
  rep.add("stage1_pass_peak_gb", p1.peak_bytes / 1e9, "GB");

  // Stage 2, fused weights' shapes = the base stage: one pass over stage 1's blocks.
  const StepInputs in2 = step_inputs(tc, g2, dev, dtype);
  std::vector<AVPass> pass2(1);
  pass2[0].video = in2.video;
  pass2[0].audio = in2.audio;
  pass2[0].video.context = pos[0];
  pass2[0].audio.context = pos[1];
  const int64_t working2 = s1.working_bytes(g2.tokens(), kAudioTokens, rows, 1, elem, scores);
  rep.add("stage2_video_tokens", static_cast<double>(g2.tokens()), "count");

  int64_t lora_bytes = 0;
  ltx2::Lora lora = bench::random_lora(tc, rank, dev, dtype, lora_bytes);
  rep.add("lora_factors_gb", lora_bytes / 1e9, "GB", std::to_string(lora.pairs.size()) + " Linears, rank " +
                                                         std::to_string(rank));
  std::unique_ptr<AVStage> delta = AVStage::lora_delta("stage2_transformer", s1, lora, 1.0, dtype,
                                                       rt::Placement::kResident, *be, PlanLimits{});
  delta->plan(working2, 0);
  const Measured d2 = time_it(*be, [&] { return delta->evaluate(pass2); }, args.repeats);
  rep.add("stage2_lora_delta_step_seconds", d2.seconds, "s", "x W^T + (x A^T) B^T on stage 1's blocks");
  rep.add("stage2_lora_delta_peak_gb", d2.peak_bytes / 1e9, "GB", "stage 1 + factors + activations");
  rep.add("stage2_lora_delta_activations_gb", (d2.peak_bytes - d2.base_bytes) / 1e9, "GB");
  rep.check("stage2_lora_delta_finite", finite(d2.out), "");
  delta.reset();

  // The same delta streamed (placement "stream"): the factors live in one pinned host slab and cross
  // the link once per step through a ring of 3 GPU slots; the device holds stage 1 and the ring.
  for (auto& [name, f] : lora.pairs) f = ltx2::LoraFactors{f.a.cpu(), f.b.cpu()};
  std::unique_ptr<AVStage> streamed = AVStage::lora_delta("stage2_transformer", s1, lora, 1.0, dtype,
                                                          rt::Placement::kStream, *be, PlanLimits{});
  streamed->plan(working2, 0);
  const Measured ds2 = time_it(*be, [&] { return streamed->evaluate(pass2); }, args.repeats);
  rep.add("stage2_lora_delta_streamed_step_seconds", ds2.seconds, "s", "factors streamed from pinned host memory");
  rep.add("stage2_lora_delta_streamed_peak_gb", ds2.peak_bytes / 1e9, "GB", "stage 1 + factor ring + activations");
  const double diff = (ds2.out[0].video.to(at::kFloat) - d2.out[0].video.to(at::kFloat)).abs().max().item<double>();
  rep.add("stage2_lora_delta_streamed_max_abs_diff", diff, "", "vs the resident delta's velocity");
  rep.check("stage2_lora_delta_streamed_equals_resident", diff == 0.0, "bit for bit");
  streamed.reset();

  // The fused configuration as the engine builds it: a second resident stage, LoRA fused in.
  t0 = Clock::now();
  int64_t w2_bytes = 0;
  ltx2::AVTransformerWeights w2 = bench::random_transformer(tc, dev, dtype, w2_bytes);
  ltx2::LoraApply how;
  how.compute_device = dev;
  const size_t fused_n = ltx2::fuse_lora(lora, ltx2::av_transformer_linears(w2, tc), how);
  be->synchronize();
  rep.add("stage2_fuse_seconds", std::chrono::duration<double>(Clock::now() - t0).count(), "s",
          "random second stage + fuse_lora over " + std::to_string(fused_n) + " Linears");
  lora.pairs.clear();
  AVStage s2("stage2_transformer", tc, std::move(w2), rt::Placement::kResident, *be, PlanLimits{});
  s2.plan(working2, 0);
  const Measured f2 = time_it(*be, [&] { return s2.evaluate(pass2); }, args.repeats);
  rep.add("stage2_fused_step_seconds", f2.seconds, "s", "one pass, fused weights");
  rep.add("stage2_fused_peak_gb", f2.peak_bytes / 1e9, "GB", "stage 1 + fused stage 2 + activations");
  rep.add("stage2_fused_activations_gb", (f2.peak_bytes - f2.base_bytes) / 1e9, "GB");
  rep.check("stage2_fused_finite", finite(f2.out), "");
  rep.add("stage2_lora_delta_over_fused", d2.seconds / f2.seconds, "x", "time");

  if (have_ref) {
    const double r1 = ref_num(ref, "stage1_step_seconds"), r1p = ref_num(ref, "stage1_pass_seconds");
    const double r1b = ref_num(ref, "stage1_step_batched_seconds"), r2 = ref_num(ref, "stage2_step_seconds");
    rep.add("ref_stage1_step_seconds", r1, "s", "ltx-core, 4 batch-1 forwards (ltx-pipelines default)");
    rep.add("ref_stage1_step_batched_seconds", r1b, "s", "ltx-core, one batch-4 forward");
    rep.add("ref_stage1_pass_seconds", r1p, "s");
    rep.add("ref_stage2_step_seconds", r2, "s", "ltx-core, one forward (LoRA fused)");
    rep.add("ref_stage1_step_peak_gb", ref_num(ref, "stage1_step_peak_bytes") / 1e9, "GB");
    rep.add("ref_stage2_step_peak_gb", ref_num(ref, "stage2_step_peak_bytes") / 1e9, "GB", "one stage resident");
    const double rw = ref_num(ref, "weights_bytes");
    rep.add("ref_stage1_step_activations_gb", (ref_num(ref, "stage1_step_peak_bytes") - rw) / 1e9, "GB",
            "peak - weights");
    rep.add("ref_stage2_step_activations_gb", (ref_num(ref, "stage2_step_peak_bytes") - rw) / 1e9, "GB");
    rep.add("ratio_stage1_step", st1.seconds / r1, "x", "ours / reference (one by one)");
    if (r1b > 0) rep.add("ratio_stage1_step_vs_batched", st1.seconds / r1b, "x", "ours / reference batch-4");
    rep.add("ratio_stage1_step_nofork", st1n.seconds / r1, "x", "ours without the STG fork / reference");
    rep.add("ratio_stage1_pass", p1.seconds / r1p, "x");
    rep.add("ratio_stage2_fused_step", f2.seconds / r2, "x");
    rep.add("ratio_stage2_lora_delta_step", d2.seconds / r2, "x");
    rep.add("ratio_stage1_step_peak", static_cast<double>(st1.peak_bytes) / ref_num(ref, "stage1_step_peak_bytes"), "x",
            "both: one stage's weights + activations");
    rep.add("ratio_stage1_step_activations", (st1.peak_bytes - st1.base_bytes) / 1e9 /
                                                 ((ref_num(ref, "stage1_step_peak_bytes") - rw) / 1e9), "x");
    rep.add("ratio_stage2_lora_delta_peak", static_cast<double>(d2.peak_bytes) / ref_num(ref, "stage2_step_peak_bytes"),
            "x", "ours: stage 1 + factors (serves both stages); reference: one fused stage");
    rep.check("reference_ran", r1 > 0 && r2 > 0, "ltx-core timings present");
  }
  return rep.finish(args.json_path);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ff_bench_ltx23: %s\n", e.what());
  return 2;
}
