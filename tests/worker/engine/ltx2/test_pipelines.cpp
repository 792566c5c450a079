// Whole LTX-2.3 samples against ltx-core / ltx-pipelines (fixture written by
// reference/pipelines_reference.py): `two_stages` (guided stage 1 with 4 passes, upsampler,
// 3-step stage 2, stage-1 audio kept) and `distilled` on a tiny random model with every 2.3
// feature on, the four noise tensors injected, in float32 and bfloat16.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/pipelines.hpp"
#include "worker/engine/ltx2/stage_denoiser.hpp"
#include "worker/engine/ltx2/upsampler.hpp"

using ff::test::rel_err;

namespace {

using namespace ff::ltx2;
namespace json = ff::json;

struct Fixture {
  std::shared_ptr<const ff::io::SafetensorsFile> file;
  json::Json pipeline;
  AVTransformerConfig config;
  UpsamplerConfig upsampler_config;
};

const Fixture& pipelines_fixture() {
  static const Fixture f = [] {
    const std::string path = std::string(FF_LTX2_FIXTURES) + "/pipelines.safetensors";
    if (!std::filesystem::exists(path)) {
      throw std::runtime_error("missing fixture " + path +
                               " (run tests/worker/engine/ltx2/reference/pipelines_reference.py --out tests/worker/engine/ltx2/fixtures)");
    }
    Fixture x;
    x.file = ff::io::SafetensorsFile::open(path);
    const auto& m = x.file->metadata();
    x.pipeline = json::parse(m.at("pipeline"), "test");
    x.config = av_transformer_config_from_json(json::parse(m.at("config"), "test")["transformer"], path + " config.transformer");
    x.upsampler_config = upsampler_config_from_json(json::parse(m.at("upsampler_config"), "test"), path + " upsampler_config");
    return x;
  }();
  return f;
}

ff::layers::TensorFetch fetch(const ff::io::SafetensorsFile& file, at::ScalarType dtype) {
  return [&file, dtype](const std::string& name, const std::vector<int64_t>& shape) {
    const ff::io::TensorInfo* info = file.find(name);
    if (!info) throw std::runtime_error(file.path() + ": missing tensor " + name);
    if (info->shape != shape) throw std::runtime_error(file.path() + ": tensor " + name + " has the wrong shape");
    return file.copy(name).to(dtype);
  };
}

GuiderParams guider(const json::Json& j) {
  GuiderParams g;
  g.cfg_scale = j["cfg_scale"].get<double>();
  g.stg_scale = j["stg_scale"].get<double>();
  g.modality_scale = j["modality_scale"].get<double>();
  g.rescale_scale = j["rescale_scale"].get<double>();
  g.skip_step = j["skip_step"].get<int64_t>();
  for (const auto& b : j["stg_blocks"]) g.stg_blocks.push_back(b.get<int64_t>());
  return g;
}

struct Setup {
  AVTransformerWeights weights;
  Upsampler upsampler;
  at::Tensor mean, std;
  PromptContexts contexts;
  PipelineRun run;
};

// Weights, upsampler, contexts and the injected noise in `dtype`.
std::unique_ptr<Setup> setup(at::ScalarType dtype) {
  const Fixture& f = pipelines_fixture();
  auto s = std::make_unique<Setup>();
  ff::layers::load_slots(av_transformer_slots(s->weights, f.config, "model.diffusion_model."), fetch(*f.file, dtype));
  s->upsampler.config = f.upsampler_config;
  ff::layers::load_slots(upsampler_slots(s->upsampler.weights, f.upsampler_config, "upsampler."), fetch(*f.file, dtype));
  s->mean = f.file->copy("vae.per_channel_statistics.mean-of-means");
  s->std = f.file->copy("vae.per_channel_statistics.std-of-means");
  s->contexts = {f.file->copy("inputs.video_context"), f.file->copy("inputs.audio_context"),
                 f.file->copy("inputs.video_negative"), f.file->copy("inputs.audio_negative")};
  const json::Json& p = f.pipeline;
  PipelineRun& run = s->run;
  run.params.width = p["width"].get<int64_t>();
  run.params.height = p["height"].get<int64_t>();
  run.params.frames = p["frames"].get<int64_t>();
  run.params.fps = p["fps"].get<double>();
  run.params.seed = p["seed"].get<int64_t>();
  run.params.steps = p["steps"].get<int64_t>();
  run.params.video_guider = guider(p["video_guider"]);
  run.params.audio_guider = guider(p["audio_guider"]);
  run.dtype = dtype;
  run.num_layers = f.config.num_layers;
  std::vector<at::Tensor> noise{f.file->copy("noise.s1_video"), f.file->copy("noise.s1_audio"),
                                f.file->copy("noise.s2_video"), f.file->copy("noise.s2_audio")};
  auto next = std::make_shared<int>(0);
  run.noise = [noise, next](NoiseDraw which, at::IntArrayRef shape, at::ScalarType dt, at::Device d) {
    REQUIRE(static_cast<int>(which) == *next);  // drawn in the reference's order
    ++*next;
    at::Tensor n = noise.at(static_cast<size_t>(which));
    REQUIRE(n.sizes().equals(shape));
    return n.to(d, dt);
  };
  return s;
}

UpsampleFn upsample_fn(const Setup& s) {
  return [&s](const at::Tensor& latent) { return upsample_video_latent(latent, s.upsampler, s.mean, s.std); };
}

// Counts passes per (stage, step) around a denoiser.
struct Counting {
  std::map<int, std::vector<size_t>> passes;  // stage -> passes per step
  DenoiseFn wrap(DenoiseFn inner, int expected_stage) {
    return [this, inner, expected_stage](const StepRequest& req) {
      CHECK(req.stage == expected_stage);
      passes[req.stage].push_back(req.passes.size());
      return inner(req);
    };
  }
};

void compare(const SampleResult& r, const std::string& prefix, at::ScalarType dtype, bool two_stages) {
  const auto& file = *pipelines_fixture().file;
  const std::string ref32 = prefix + ".f32.", ref16 = prefix + ".bf16.";
  std::vector<std::pair<std::string, at::Tensor>> outs{{"stage1_video", r.stage1_video}, {"stage1_audio", r.stage1_audio},
                                                       {"upsampled", r.upsampled}, {"video", r.video}, {"audio", r.audio}};
  if (two_stages) outs.emplace_back("stage2_audio", r.stage2_audio);
  for (const auto& [name, t] : outs) {
    CHECK((t.scalar_type() == dtype));
    const double e = rel_err(t, file.copy(ref32 + name));
    if (dtype == at::kFloat) {
      INFO(prefix << " f32 " << name << " rel err " << e);
      CHECK(e <= 1e-4);
      MESSAGE(prefix << " f32 " << name << ": " << e);
    } else {
      // bf16 rounding noise is not reproducible across implementations (other kernels, other
      // libtorch), and guidance amplifies it: the reference's own bf16 run is up to 3.5e-2 from
      // its fp32 run (two_stages' stage-1 audio, cfg 7). Limits: vs the fp32 reference 2e-2 or
      // 1.5x the reference's own bf16 error; vs the bf16 reference (two independent noises of
      // that size) 2e-2 or 2x.
      const double e16 = rel_err(t, file.copy(ref16 + name));
      const double ref_own = rel_err(file.copy(ref16 + name), file.copy(ref32 + name));
      INFO(prefix << " bf16 " << name << " rel err vs f32 ref " << e << ", vs bf16 ref " << e16
                  << " (reference bf16 vs f32: " << ref_own << ")");
      CHECK(e <= std::max(2e-2, 1.5 * ref_own));
      CHECK(e16 <= std::max(2e-2, 2.0 * ref_own));
      MESSAGE(prefix << " bf16 " << name << ": vs f32 ref " << e << ", vs bf16 ref " << e16 << ", ref's own " << ref_own);
    }
  }
}

}  // namespace

TEST_CASE("ltx2 pipelines: two_stages sample equals ltx-pipelines' (fp32 and bf16)") {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    auto s = setup(dtype);
    const AVTransformerConfig& c = pipelines_fixture().config;
    Counting count;
    std::vector<std::string> progress;
    s->run.hooks.progress = [&](const std::string& phase, int done, int total) {
      progress.push_back(phase + ":" + std::to_string(done) + "/" + std::to_string(total));
    };
    SampleResult r = run_two_stages(s->run, s->contexts, count.wrap(resident_denoiser(s->weights, c), 1),
                                    upsample_fn(*s), count.wrap(resident_denoiser(s->weights, c), 2));
    // Stage 1: every step runs cond, uncond, STG and isolated; stage 2: cond only, 3 steps.
    CHECK((count.passes[1] == std::vector<size_t>(static_cast<size_t>(s->run.params.steps), 4)));
    CHECK((count.passes[2] == std::vector<size_t>{1, 1, 1}));
    CHECK(progress.size() == static_cast<size_t>(s->run.params.steps) + 3);
    CHECK(progress.back() == "stage2:3/3");
    // HEAD decodes stage 1's audio.
    CHECK(at::equal(r.audio, r.stage1_audio));
    compare(r, "two_stages", dtype, true);
  }
}

TEST_CASE("ltx2 pipelines: distilled sample equals ltx-pipelines' (fp32 and bf16)") {
  for (at::ScalarType dtype : {at::kFloat, at::kBFloat16}) {
    auto s = setup(dtype);
    Counting count;
    DenoiseFn inner = resident_denoiser(s->weights, pipelines_fixture().config);
    std::map<int, int> steps;
    DenoiseFn fn = [&](const StepRequest& req) {
      steps[req.stage]++;
      CHECK(req.passes.size() == 1);
      return inner(req);
    };
    SampleResult r = run_distilled(s->run, s->contexts, fn, upsample_fn(*s));
    CHECK(steps[1] == 8);
    CHECK(steps[2] == 3);
    CHECK(at::equal(r.audio, r.stage2_audio));
    compare(r, "distilled", dtype, false);
  }
}

TEST_CASE("ltx2 pipelines: the resident denoiser's shared prefixes equal independent forwards") {
  auto s = setup(at::kFloat);
  const AVTransformerConfig& c = pipelines_fixture().config;
  std::optional<StepRequest> captured;
  DenoiseFn inner = resident_denoiser(s->weights, c);
  DenoiseFn grab = [&](const StepRequest& req) {
    if (!captured && req.passes.size() == 4) captured = req;
    return inner(req);
  };
  s->run.hooks.cancelled = [&] { return captured.has_value(); };  // stop after the first step
  CHECK_THROWS_AS(run_two_stages(s->run, s->contexts, grab, upsample_fn(*s), grab), ff::ltx2::Cancelled);
  REQUIRE(captured.has_value());
  std::vector<AVVelocity> shared = inner(*captured);
  for (size_t k = 0; k < captured->passes.size(); ++k) {
    const PassRequest& p = captured->passes[k];
    ModalityInput v = captured->video, a = captured->audio;
    v.context = p.video_context;
    a.context = p.audio_context;
    AVVelocity alone = av_transformer_forward(s->weights, c, v, a, p.perturbation);
    INFO("pass " << pass_kind_name(p.kind));
    CHECK(at::equal(shared[k].video, alone.video));
    CHECK(at::equal(shared[k].audio, alone.audio));
  }
  // The STG pass diverges at the guider's block; the cond pass never.
  CHECK(first_perturbed_block(captured->passes[2].perturbation, c.num_layers) == s->run.params.video_guider.stg_blocks[0]);
  CHECK(first_perturbed_block(captured->passes[0].perturbation, c.num_layers) == c.num_layers);
}

TEST_CASE("ltx2 pipelines: cancellation stops between steps with the phase and step") {
  auto s = setup(at::kFloat);
  int calls = 0;
  DenoiseFn inner = resident_denoiser(s->weights, pipelines_fixture().config);
  DenoiseFn fn = [&](const StepRequest& req) { ++calls; return inner(req); };
  int checks = 0;
  s->run.hooks.cancelled = [&] { return ++checks == 10; };  // 8 distilled stage-1 steps, then stage 2's second
  try {
    run_distilled(s->run, s->contexts, fn, upsample_fn(*s));
    FAIL("not cancelled");
  } catch (const ff::ltx2::Cancelled& e) {
    CHECK(e.phase == "stage2");
    CHECK(e.step == 1);
  }
  CHECK(calls == 9);
}

TEST_CASE("ltx2 pipelines: seeded noise draws like torch.randn on a CPU generator (informational)") {
  const auto& file = *pipelines_fixture().file;
  NoiseFn n = seeded_noise(pipelines_fixture().pipeline["seed"].get<int64_t>(), at::kCPU);
  for (int i = 0; i < 4; ++i) {
    at::Tensor want = file.copy("noise.seeded_cpu." + std::to_string(i));
    at::Tensor got = n(static_cast<NoiseDraw>(i), want.sizes(), at::kFloat, at::kCPU);
    CHECK(got.sizes().equals(want.sizes()));
    WARN_MESSAGE(at::equal(got, want), "draw " << i << " differs from this torch's CPU randn (libtorch version)");
  }
  // Same seed, same numbers; the generator is private (the global one is untouched).
  at::Tensor a = seeded_noise(5, at::kCPU)(NoiseDraw::kStage1Video, {64}, at::kFloat, at::kCPU);
  at::Tensor b = seeded_noise(5, at::kCPU)(NoiseDraw::kStage1Video, {64}, at::kFloat, at::kCPU);
  CHECK(at::equal(a, b));
}
