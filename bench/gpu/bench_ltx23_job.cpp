// ff_bench_ltx23_job: whole LTX-2.3 jobs at real size (121 frames to 1024x1536, stage 1 at 512x768,
// default steps) on the engine's own code path, with random weights built in memory (the 22B
// checkpoint would not fit the GPU host's disk): prompt encode (encode::EncodePipeline over the
// random Gemma-3-12B + embeddings processor of random_encoder, as encode_entry runs it) and
// run_ltx2_job (stage 1, upsample, stage 2, tiled video decode, audio decode + vocoder, clip write)
// on an Ltx2Model assembled by random_ltx2 with the engine's placements. Beside it, ltx-pipelines
// (PyTorch) runs the same jobs on the same GPU (bench/gpu/ltx23_job_reference.py, a child process
// run BEFORE this process allocates on the GPU).
//
// Jobs, in this order (one model; stage 2 swapped between them):
//   two_stages_lora_delta  stage 1 resident, stage 2 = the LoRA as a delta, its factors streamed,
//                          text encoder and embeddings processor streamed  (the <= 48 GB floor)
//   two_stages_fused       stage 2 = a second resident stage with the LoRA fused (as the reference)
//   distilled              one transformer for both stages, no guidance, one prompt
//   stage1 bf16 / fp8      one guided stage-1 step (4 passes, one sweep) on a lone stage 1 with
//                          bf16 and with fp8 weights (`weights: fp8`): time and peak
// Per job: the whole job (prompt encode + run_ltx2_job, the clip write excluded: the mux side is
// the supervisor's), every phase, median step time per stage (steps after the first), and the
// allocator's peak per component (max allocated in that component's phase, everything resident
// included). Progress lines carry the seconds since start.
//   ops/bench ltx23-job [--json FILE] [--device cuda|cpu] [--preset full|tiny] [--steps N]
//                       [--repeats N] [--reference run|skip|FILE] [--jobs delta,fused,distilled,fp8]
//                       [--reference-steps N (default: --steps)] [--reference-timeout S (default 240)]
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "bench/gpu/bench_ltx23_job_run.hpp"
#include "bench/gpu/bench_report.hpp"
#include "common/cli_flags.hpp"
#include "common/json_fields.hpp"

using namespace ff;
using namespace ff::engine;

namespace {

// The reference in its own process, killed after `limit_s` (it skips its later parts itself when
// its budget, limit - 20 s, runs short; what it finished is in its JSON, written after each part).
bench::Json run_reference(const std::string& how, int steps, int limit_s) {
  std::string path = how;
  if (how == "run") {
    path = "/tmp/ff_ltx23_job_reference_" + std::to_string(::getpid()) + ".json";
    const std::string cmd = "timeout " + std::to_string(limit_s) + " python3 " FF_SOURCE_DIR
                            "/bench/gpu/ltx23_job_reference.py --json " + path + " --steps " + std::to_string(steps) +
                            " --budget " + std::to_string(limit_s - 20);
    bench::note("reference: %s", cmd.c_str());
    const int rc = std::system(cmd.c_str());
    if (rc != 0) bench::note("reference exited with %d (its JSON, if any, is still read)", rc);
  }
  std::ifstream f(path);
  if (!f) {
    bench::note("no reference JSON at %s", path.c_str());
    return nullptr;
  }
  std::stringstream ss;
  ss << f.rdbuf();
  try {
    return json::parse(ss.str(), "reference JSON " + path);
  } catch (const std::exception& e) {
    bench::note("%s", e.what());
    return nullptr;
  }
}

// The value at keys[0].keys[1]..., or nullptr.
const bench::Json* at_path(const bench::Json& v, std::initializer_list<const char*> keys) {
  const bench::Json* cur = &v;
  for (const char* k : keys) {
    if (!cur->is_object() || !cur->contains(k)) return nullptr;
    cur = &(*cur)[k];
  }
  return cur;
}

double num(const bench::Json& v, std::initializer_list<const char*> keys) {
  const bench::Json* x = at_path(v, keys);
  return x && x->is_number() ? x->get<double>() : -1.0;
}

// Our job vs the reference's job of the same pipeline.
// `extra_steps`: stage-1 steps ours ran beyond the reference's (two_stages with --reference-steps):
// the reference's whole time is then extrapolated by that many of its median stage-1 steps.
void compare(bench::Report& rep, const bench::JobResult& ours, const bench::Json& ref, const char* ref_job,
             int extra_steps) {
  double rw = num(ref, {"jobs", ref_job, "whole_seconds"});
  const double r1s = num(ref, {"jobs", ref_job, "stage1_step_seconds"});
  std::string how = "measured";
  if (rw > 0 && extra_steps != 0 && r1s > 0) {
    rw += extra_steps * r1s;
    how = "extrapolated by " + std::to_string(extra_steps) + " of its stage-1 steps";
  }
  if (rw <= 0) {
    const bench::Json* err = at_path(ref, {"jobs", ref_job, "error"});
    rep.check("floor_" + ours.name + "_time", false,
              "reference job missing" + (err && err->is_string() ? ": " + err->get<std::string>() : std::string()));
    return;
  }
  rep.add("ratio_" + ours.name + "_whole", ours.whole_seconds / rw, "x",
          "ours / ltx-pipelines " + std::string(ref_job) + " (" + std::to_string(rw) + " s, " + how + ")");
  const double r1 = num(ref, {"jobs", ref_job, "stage1_step_seconds"}), r2 = num(ref, {"jobs", ref_job, "stage2_step_seconds"});
  if (r1 > 0 && ours.stage1_step > 0) rep.add("ratio_" + ours.name + "_stage1_step", ours.stage1_step / r1, "x");
  if (r2 > 0 && ours.stage2_step > 0) rep.add("ratio_" + ours.name + "_stage2_step", ours.stage2_step / r2, "x");
  char buf[256];
  std::snprintf(buf, sizeof buf, "%.2f s vs %.2f s (%s) = %.3fx (floor <= 1.0x)", ours.whole_seconds, rw, how.c_str(),
                ours.whole_seconds / rw);
  rep.check("floor_" + ours.name + "_time", ours.whole_seconds <= rw, buf);
}

void add_reference_rows(bench::Report& rep, const bench::Json& ref) {
  for (const char* job : {"two_stages", "distilled"}) {
    const std::string p = "ref_" + std::string(job) + "_";
    rep.add(p + "whole_seconds", num(ref, {"jobs", job, "whole_seconds"}), "s", "ltx-pipelines, loads excluded");
    for (const char* ph : {"prompt_encode", "stage1", "upsample", "stage2", "decode_video", "decode_audio"}) {
      rep.add(p + ph + "_seconds", num(ref, {"jobs", job, "phases", ph}), "s");
      rep.add(p + ph + "_peak_gb", num(ref, {"jobs", job, "peaks_gb", ph}), "GB");
    }
    rep.add(p + "stage1_step_seconds", num(ref, {"jobs", job, "stage1_step_seconds"}), "s", "median");
    rep.add(p + "stage2_step_seconds", num(ref, {"jobs", job, "stage2_step_seconds"}), "s", "median");
    rep.add(p + "peak_gb", num(ref, {"jobs", job, "peak_gb"}), "GB");
  }
  for (const char* k : {"stage1_fp8", "stage1_bf16"}) {
    rep.add("ref_" + std::string(k) + "_step_seconds", num(ref, {k, "step_seconds"}), "s", "ltx-pipelines stage-1 loop");
    rep.add("ref_" + std::string(k) + "_peak_gb", num(ref, {k, "peak_gb"}), "GB");
    rep.add("ref_" + std::string(k) + "_weights_gb", num(ref, {k, "weights_gb"}), "GB");
  }
}

}  // namespace

int main(int argc, char** argv) try {
  std::string reference = "default", jobs = "delta,fused,distilled,fp8";
  int steps = -1, ref_steps = -1, ref_limit = 240;
  bench::BenchArgs args;
  CLI::App app("", "ff_bench_ltx23_job");
  ff::cli::configure(app, "ff_bench_ltx23_job [options]");
  bench::add_bench_flags(app, args);
  app.add_option("--reference", reference,
                 "run (bench/gpu/ltx23_job_reference.py), skip, or FILE (a JSON it wrote); default: run "
                 "on CUDA with --preset full, else skip")
      ->type_name("run|skip|FILE");
  app.add_option("--steps", steps, "stage-1 steps of our jobs; -1 = 30 (full) or 2 (tiny)")
      ->type_name("N")
      ->check(ff::cli::integer(1, 1000));
  app.add_option("--jobs", jobs, "which of our jobs to run, comma-separated")->type_name("LIST");
  app.add_option("--reference-steps", ref_steps, "stage-1 steps of the reference's jobs; -1 = --steps")
      ->type_name("N")
      ->check(ff::cli::integer(1, 1000));
  app.add_option("--reference-timeout", ref_limit, "kill the reference after this long")
      ->type_name("S")
      ->check(ff::cli::integer(30, 86400));
  if (const int rc = bench::parse_bench_flags(app, argc, argv); rc >= 0) return rc;
  const bool full = args.preset == "full";
  const bool cuda = args.device.rfind("cuda", 0) == 0;
  if (reference == "default") reference = cuda && full ? "run" : "skip";
  if (steps < 1) steps = full ? 30 : 2;
  if (ref_steps < 1) ref_steps = steps;
  auto want = [&](const char* j) { return ("," + jobs + ",").find("," + std::string(j) + ",") != std::string::npos; };

  const bench::Json ref = reference == "skip" ? bench::Json() : run_reference(reference, ref_steps, ref_limit);
  const bool have_ref = ref.is_object();

  auto be = rt::make_backend(args.device, 256ll << 30);
  bench::Report rep("ltx23-job");
  rep.context("device", be->name());
  rep.context("gpu", be->device_name());
  rep.context("preset", args.preset);
  rep.context("stage1_steps", steps);
  rep.context("reference_stage1_steps", ref_steps);
  if (have_ref) rep.context("reference", ref);

  bench::JobBench jb(args.preset, *be, steps);
  rep.context("job", jb.describe());
  std::vector<bench::JobResult> done;
  if (want("delta") || want("fused") || want("distilled")) {
    jb.build(rep);
    if (want("delta")) done.push_back(jb.run_job(bench::JobKind::kTwoStagesDelta, rep));
    if (want("fused")) done.push_back(jb.run_job(bench::JobKind::kTwoStagesFused, rep));
    if (want("distilled")) done.push_back(jb.run_job(bench::JobKind::kDistilled, rep));
    jb.release();
  }
  if (want("fp8")) jb.stage1_weights_steps(rep, args.repeats);

  for (const auto& r : done) {
    if (r.name == "two_stages_lora_delta") {
      char buf[128];
      std::snprintf(buf, sizeof buf, "%.2f GB (stage 1 resident, delta + text encoder streamed; seed: 78.6 GB)",
                    r.peak_bytes / 1e9);
      rep.check("floor_two_stages_lora_delta_peak_48gb", r.peak_bytes <= static_cast<int64_t>(48e9) || !full, buf);
    }
  }
  if (have_ref) {
    add_reference_rows(rep, ref);
    for (const auto& r : done) {
      const bool d = r.name == "distilled";
      compare(rep, r, ref, d ? "distilled" : "two_stages", d ? 0 : steps - ref_steps);
    }
  } else if (reference != "skip") {
    rep.check("reference_ran", false, "no reference JSON");
  }
  bench::note("done");
  return rep.finish(args.json_path);
} catch (const std::exception& e) {
  std::fprintf(stderr, "ff_bench_ltx23_job: %s\n", e.what());
  return 2;
}
