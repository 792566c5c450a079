// ff_bench_stage_stream: one stage transformer of the stage-22b preset (48 layers, bf16, random,
// built on the device) evaluated per denoising step resident, fully streamed from its pinned host
// slab, and half resident (what `auto` plans under a tight budget), for the two grids of a
// 121-frame 768x512 job (stage 1 at half size, stage 2 at full size; 1024 context rows).
// Streamed time is compared with max(copy floor, resident step), the floor being the streamed
// bytes over the pinned bandwidth measured in the same run; results must equal the resident ones.
//   ops/bench stage-stream --json FILE [--device cuda|cpu] [--preset full|tiny] [--repeats N]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <vector>

#include "bench/gpu/bench_report.hpp"
#include "bench/gpu/h2d_bandwidth.hpp"
#include "bench/gpu/random_stage.hpp"
#include "worker/engine/app/video_presets.hpp"
#include "worker/engine/video/sampler.hpp"
#include "worker/engine/video/streamed_velocity.hpp"
#include "worker/engine/video/transformer_block_fields.hpp"

using namespace ff;
using namespace ff::engine;

namespace {

using Clock = std::chrono::steady_clock;

struct Step {
  double seconds = 0;     // median over repeats (after one warm-up evaluation)
  int64_t peak_bytes = 0; // device peak during the timed evaluations
  at::Tensor velocity;    // the last evaluation's output
};

Step time_step(rt::DeviceBackend& be, const video::VelocityFn& v, const at::Tensor& latent, const at::Tensor& ctx,
               int repeats) {
  Step s;
  s.velocity = v(latent, 0.9, ctx);  // warm-up: kernel selection, allocator growth
  be.synchronize();
  be.meter().reset_peak();
  std::vector<double> t;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = Clock::now();
    s.velocity = v(latent, 0.9, ctx);
    be.synchronize();
    t.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  s.seconds = bench::median(t);
  s.peak_bytes = be.meter().peak_bytes();
  return s;
}

double max_abs_diff(const at::Tensor& a, const at::Tensor& b) {
  return (a.to(at::kFloat) - b.to(at::kFloat)).abs().max().item<double>();
}

}  // namespace

int main(int argc, char** argv) try {
  const auto args = bench::parse_bench_args(argc, argv);
  const bool full = args.preset == "full";
  auto be = rt::make_backend(args.device, 64ll << 30);
  bench::Report rep("stage-stream");
  rep.context("device", be->name());
  rep.context("gpu", be->device_name());
  rep.context("preset", args.preset);

  const at::ScalarType dtype = full ? at::kBFloat16 : at::kFloat;
  const int64_t ctx_dim = full ? 4096 : 32;
  const video::TransformerConfig tc = engine::video_preset(full ? "stage-22b" : "tiny", ctx_dim).stage1;
  bench::RandomStage stage = bench::make_random_stage(tc, be->device(), dtype);
  std::optional<rt::ScopedCharge> stage_charge;
  stage_charge.emplace(be->meter(), stage.bytes);
  const auto t_slab = Clock::now();
  std::unique_ptr<rt::BlockStore> store = video::make_transformer_block_store("stage1_transformer", *be, stage.weights.blocks);
  be->synchronize();
  const double slab_seconds = std::chrono::duration<double>(Clock::now() - t_slab).count();
  int64_t block_bytes = 0;
  for (int64_t b : store->all_block_bytes()) block_bytes += b;
  const double bandwidth = bench::measure_h2d_bandwidth(*store, 3);
  const double floor_seconds = block_bytes / bandwidth;
  rep.add("stage_layers", static_cast<double>(tc.num_layers), "count");
  rep.add("stage_weights_gb", stage.bytes / 1e9, "GB");
  rep.add("stage_blocks_gb", block_bytes / 1e9, "GB", "streamed per evaluation");
  rep.add("pinned_slab_fill_seconds", slab_seconds, "s", "once, at load");
  rep.add("pinned_h2d_gb_per_s", bandwidth / 1e9, "GB/s", "measured in this run on the slab");
  rep.add("copy_floor_seconds", floor_seconds, "s", "stage blocks / pinned bandwidth");

  struct Grid {
    const char* name;
    video::LatentGrid g;
  };
  // 121 frames, 768x512, 8x temporal / 32x spatial latent: stage 1 at half size, stage 2 full.
  const std::vector<Grid> grids = full ? std::vector<Grid>{{"stage1_grid", {16, 8, 12, 8, 64}}, {"stage2_grid", {16, 16, 24, 8, 32}}}
                                       : std::vector<Grid>{{"tiny_grid", {2, 4, 4, 8, 32}}};
  const int64_t context_rows = full ? 1024 : 16;
  const auto dev = at::TensorOptions().device(be->device());
  at::Tensor ctx = at::randn({1, context_rows, ctx_dim}, dev.dtype(dtype));
  std::vector<at::Tensor> latents, resident_out;
  std::vector<Step> resident;
  video::StageModel model{tc, stage.weights};
  for (const Grid& g : grids) {
    at::Tensor latent = at::randn({1, tc.in_channels, g.g.frames, g.g.height, g.g.width}, dev.dtype(at::kFloat));
    Step r = time_step(*be, video::resident_velocity(model, g.g), latent, ctx, args.repeats);
    const std::string n = g.name;
    const int64_t tokens = g.g.frames * g.g.height * g.g.width;
    rep.add(n + "_tokens", static_cast<double>(tokens), "count");
    rep.add(n + "_resident_step_seconds", r.seconds, "s");
    rep.add(n + "_resident_peak_gb", r.peak_bytes / 1e9, "GB", "weights + activations");
    latents.push_back(latent);
    resident.push_back(std::move(r));
  }

  // From here on the stage's blocks live only in the pinned slab (and a resident prefix).
  model.weights.blocks.clear();
  stage.weights.blocks.clear();
  stage_charge.reset();
  stage_charge.emplace(be->meter(), stage.bytes - block_bytes);
  be->synchronize();
  for (size_t i = 0; i < grids.size(); ++i) {
    const std::string n = grids[i].name;
    rt::PassTimings last{};
    auto observe = [&](const rt::PassTimings& t) { last = t; };
    for (const int prefix : {0, static_cast<int>(tc.num_layers / 2)}) {
      store->set_resident_prefix(prefix);
      const std::string m = n + (prefix == 0 ? "_stream" : "_half_resident");
      Step s = time_step(*be, video::streamed_velocity(tc, stage.weights.globals, *store, grids[i].g, 3, observe),
                         latents[i], ctx, args.repeats);
      const double diff = max_abs_diff(s.velocity, resident[i].velocity);
      rep.add(m + "_step_seconds", s.seconds, "s", "plan " + std::to_string(prefix) + "/" + std::to_string(tc.num_layers));
      rep.add(m + "_peak_gb", s.peak_bytes / 1e9, "GB", "globals + resident prefix + ring + activations");
      rep.add(m + "_stall_seconds", last.stall_seconds, "s", "compute waiting for copies, last evaluation");
      rep.add(m + "_max_abs_diff_vs_resident", diff, "");
      rep.check(m + "_equals_resident", diff == 0.0, "max |streamed - resident| = " + std::to_string(diff));
      if (prefix == 0) {
        const double limit = 1.15 * std::max(floor_seconds, resident[i].seconds);
        char buf[200];
        std::snprintf(buf, sizeof buf, "%.3f s <= 1.15 x max(floor %.3f, resident %.3f) = %.3f", s.seconds,
                      floor_seconds, resident[i].seconds, limit);
        rep.check(m + "_within_1.15x_max_floor_resident", s.seconds <= limit, buf);
        std::snprintf(buf, sizeof buf, "peak %.2f GB vs resident %.2f GB", s.peak_bytes / 1e9, resident[i].peak_bytes / 1e9);
        rep.check(m + "_peak_below_resident_by_the_blocks", s.peak_bytes + block_bytes * 9 / 10 <= resident[i].peak_bytes, buf);
      }
    }
  }
  store->set_resident_prefix(0);
  return rep.finish(args.json_path);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ff_bench_stage_stream: %s\n", e.what());
  return 2;
}
