// Parity of LTX-2.3's sampling pieces with ltx-core (fixture written by
// reference/sampling_reference.py): LTX2Scheduler sigmas, the pipelines' constant schedules,
// MultiModalGuider, the Euler step with a denoise mask, the noiser, and the latent shapes.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <cmath>
#include <filesystem>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/diffusion_step.hpp"
#include "worker/engine/ltx2/guider.hpp"
#include "worker/engine/ltx2/pipeline_params.hpp"
#include "worker/engine/ltx2/schedulers.hpp"

using ff::test::rel_err;

namespace {

using namespace ff::ltx2;
namespace json = ff::json;

std::shared_ptr<const ff::io::SafetensorsFile> sampling_fixture() {
  const std::string path = std::string(FF_LTX2_FIXTURES) + "/sampling.safetensors";
  if (!std::filesystem::exists(path)) {
    FAIL("missing fixture " << path << " (run tests/worker/engine/ltx2/reference/sampling_reference.py --out tests/worker/engine/ltx2/fixtures)");
  }
  return ff::io::SafetensorsFile::open(path);
}

json::Json meta(const ff::io::SafetensorsFile& f, const std::string& key) {
  auto it = f.metadata().find(key);
  REQUIRE_MESSAGE(it != f.metadata().end(), "fixture metadata lacks " << key);
  return json::parse(it->second, "test");
}

double max_abs(const std::vector<float>& got, const at::Tensor& want) {
  REQUIRE(static_cast<int64_t>(got.size()) == want.numel());
  at::Tensor w = want.to(at::kFloat).contiguous();
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs(double(got[i]) - double(w.data_ptr<float>()[i])));
  return m;
}

}  // namespace

TEST_CASE("ltx2 sigmas: LTX2Scheduler schedules equal ltx-core's (within 1e-6, measured exact)") {
  auto f = sampling_fixture();
  json::Json cases = meta(*f, "sigma_cases");
  int n = 0;
  for (const auto& [name, c] : cases.items()) {
    std::optional<int64_t> tokens;
    if (!c["latent_shape"].is_null()) {
      std::vector<int64_t> shape;
      for (const auto& d : c["latent_shape"]) shape.push_back(d.get<int64_t>());
      tokens = scheduler_tokens(shape);
    }
    std::vector<float> got = ltx2_sigmas(c["steps"].get<int64_t>(), tokens);
    double err = max_abs(got, f->copy("sigmas." + name));
    INFO(name << " max abs err " << err);
    CHECK(err <= 1e-6);
    MESSAGE("sigmas " << name << " max abs err " << err);
    ++n;
  }
  CHECK(n >= 5);
  // The float32 quirk the reference has: the default schedule starts just below 1.
  std::vector<float> def = ltx2_sigmas(30);
  CHECK(def.size() == 31);
  CHECK(def[0] == 0.99999994f);
  CHECK(std::fabs(def[29] - 0.1f) < 1e-6f);
  CHECK(def[30] == 0.0f);
  CHECK(max_abs(distilled_sigmas(), f->copy("sigmas.distilled")) == 0.0);
  CHECK(max_abs(stage2_sigmas(), f->copy("sigmas.stage2")) == 0.0);
  CHECK_THROWS_AS(ltx2_sigmas(0), std::invalid_argument);
}

TEST_CASE("ltx2 guider: MultiModalGuider outputs and pass plans equal ltx-core's") {
  auto f = sampling_fixture();
  at::Tensor cond = f->copy("guider.cond"), uncond = f->copy("guider.uncond");
  at::Tensor ptb = f->copy("guider.ptb"), mod = f->copy("guider.mod");
  json::Json cases = meta(*f, "guider_cases");
  for (const auto& [name, c] : cases.items()) {
    const json::Json& p = c["params"];
    GuiderParams g;
    g.cfg_scale = p["cfg_scale"].get<double>();
    g.stg_scale = p["stg_scale"].get<double>();
    g.modality_scale = p["modality_scale"].get<double>();
    g.rescale_scale = p["rescale_scale"].get<double>();
    const json::Json& need = c["passes"];
    CHECK(g.needs_uncond() == need["uncond"].get<bool>());
    CHECK(g.needs_perturbed() == need["ptb"].get<bool>());
    CHECK(g.needs_isolated() == need["mod"].get<bool>());
    at::Tensor out = guide(g, cond, g.needs_uncond() ? uncond : at::Tensor(),
                           g.needs_perturbed() ? ptb : at::Tensor(), g.needs_isolated() ? mod : at::Tensor());
    double err = rel_err(out, f->copy("guider.out." + name));
    INFO(name << " rel err " << err);
    MESSAGE("guider " << name << " rel err " << err);
    CHECK((out.scalar_type() == at::kFloat));
    CHECK(err <= 1e-5);
  }
  // bf16 in, bf16 out (float32 inside).
  GuiderParams video{3.0, 1.0, 3.0, 0.7, 0, {28}};
  at::Tensor out = guide(video, f->copy("guider.bf16.cond"), f->copy("guider.bf16.uncond"),
                         f->copy("guider.bf16.ptb"), f->copy("guider.bf16.mod"));
  CHECK((out.scalar_type() == at::kBFloat16));
  double err = rel_err(out, f->copy("guider.bf16.out"));
  INFO("bf16 rel err " << err);
  MESSAGE("guider bf16 rel err " << err);
  CHECK(err <= 1e-2);
  // Pass plans: the 2.3 defaults need all four passes; no guidance needs only cond.
  GuiderParams audio{7.0, 1.0, 3.0, 0.7, 0, {28}};
  CHECK(plan_passes(video, audio).size() == 4);
  CHECK((plan_passes(GuiderParams{}, GuiderParams{}) == std::vector<PassKind>{PassKind::kCond}));
  GuiderParams cfg_only{2.0, 0.0, 1.0, 0.0, 0, {}};
  CHECK((plan_passes(cfg_only, GuiderParams{}) == std::vector<PassKind>{PassKind::kCond, PassKind::kUncond}));
  GuiderParams skip{3.0, 0.0, 1.0, 0.0, 2, {}};
  CHECK(!skip.skips_step(0));
  CHECK(skip.skips_step(1));
  CHECK(skip.skips_step(2));
  CHECK(!skip.skips_step(3));
}

TEST_CASE("ltx2 euler: masked blend and Euler step equal ltx-core's (fp32 and bf16)") {
  auto f = sampling_fixture();
  at::Tensor sample = f->copy("euler.sample"), denoised = f->copy("euler.denoised");
  at::Tensor clean = f->copy("euler.clean"), mask = f->copy("euler.mask");
  std::vector<float> sigmas = ltx2_sigmas(30);
  for (auto [name, dtype] : {std::pair{"f32", at::kFloat}, std::pair{"bf16", at::kBFloat16}}) {
    const std::string p = std::string("euler.") + name;
    at::Tensor post = blend_with_clean(denoised.to(dtype), mask, clean.to(dtype));
    CHECK((post.scalar_type() == dtype));
    CHECK(rel_err(post, f->copy(p + ".post")) == 0.0);
    at::Tensor step3 = euler_step(sample.to(dtype), post, sigmas, 3);
    at::Tensor last = euler_step(sample.to(dtype), post, sigmas, 29);
    double e3 = rel_err(step3, f->copy(p + ".step3")), el = rel_err(last, f->copy(p + ".last"));
    INFO(name << " step3 " << e3 << " last " << el);
    MESSAGE("euler " << std::string(name) << " step3 " << e3 << " last " << el);
    // Same ops in the same order: equal up to one rounding of the bf16 velocity.
    CHECK(e3 <= (dtype == at::kFloat ? 1e-7 : 1e-3));
    CHECK(el <= (dtype == at::kFloat ? 1e-7 : 1e-3));
    CHECK((step3.scalar_type() == dtype));
  }
  CHECK_THROWS_AS(euler_step(sample, denoised, sigmas, 30), std::invalid_argument);
}

TEST_CASE("ltx2 noiser: lerp to the noise level with a mask equals GaussianNoiser's") {
  auto f = sampling_fixture();
  at::Tensor latent = f->copy("noiser.latent"), clean = f->copy("noiser.clean"), mask = f->copy("noiser.mask");
  for (auto [name, dtype] : {std::pair{"f32", at::kFloat}, std::pair{"bf16", at::kBFloat16}}) {
    const std::string p = std::string("noiser.") + name;
    at::Tensor noise = f->copy(p + ".noise");
    at::Tensor partial = noise_latent(latent.to(dtype), clean.to(dtype), mask, noise, 0.909375);
    double e = rel_err(partial, f->copy(p + ".partial"));
    INFO(name << " partial rel err " << e);
    MESSAGE("noiser " << std::string(name) << " partial rel err " << e);
    CHECK(e <= (dtype == at::kFloat ? 1e-7 : 1e-3));
    at::Tensor zero = at::zeros_like(noise);
    at::Tensor full = noise_latent(zero, zero, at::ones({1, noise.size(1), 1}), noise, 1.0);
    CHECK(at::equal(full, f->copy(p + ".full")));
  }
}

TEST_CASE("ltx2 latent shapes: audio length round(frames / fps * 25) and video grid equal ltx-core's") {
  auto f = sampling_fixture();
  const json::Json lengths = meta(*f, "audio_lengths"), shapes = meta(*f, "video_shapes");
  for (const auto& row : lengths) {
    int64_t frames = row[0].get<int64_t>();
    double fps = row[1].get<double>();
    INFO("frames " << frames << " fps " << fps);
    CHECK(audio_latent_frames(frames, fps) == row[2].get<int64_t>());
  }
  for (const auto& row : shapes) {
    VideoLatentGrid g = video_latent_grid(row[0].get<int64_t>(), row[1].get<int64_t>(), row[2].get<int64_t>());
    CHECK(g.frames == row[3].get<int64_t>());
    CHECK(g.height == row[4].get<int64_t>());
    CHECK(g.width == row[5].get<int64_t>());
  }
}

TEST_CASE("ltx2 pipeline params: defaults are LTX_2_3_PARAMS") {
  auto f = sampling_fixture();
  PipelineParams p;
  CHECK_NOTHROW(p.validate());
  auto it = f->metadata().find("pipeline_params");
  if (it == f->metadata().end()) {
    WARN_MESSAGE(false, "fixture has no pipeline_params (ltx-pipelines constants did not import)");
  } else {
    json::Json r = json::parse(it->second, "test");
    CHECK(p.seed == r["seed"].get<int64_t>());
    CHECK(p.height == 2 * r["stage_1_height"].get<int64_t>());
    CHECK(p.width == 2 * r["stage_1_width"].get<int64_t>());
    CHECK(p.frames == r["num_frames"].get<int64_t>());
    CHECK(p.fps == r["frame_rate"].get<double>());
    CHECK(p.steps == r["num_inference_steps"].get<int64_t>());
    for (auto [g, key] : {std::pair{&p.video_guider, "video"}, std::pair{&p.audio_guider, "audio"}}) {
      const json::Json& w = r[key];
      CHECK(g->cfg_scale == w["cfg_scale"].get<double>());
      CHECK(g->stg_scale == w["stg_scale"].get<double>());
      CHECK(g->modality_scale == w["modality_scale"].get<double>());
      CHECK(g->rescale_scale == w["rescale_scale"].get<double>());
      CHECK(g->skip_step == w["skip_step"].get<int64_t>());
      std::vector<int64_t> blocks;
      for (const auto& b : w["stg_blocks"]) blocks.push_back(b.get<int64_t>());
      CHECK((g->stg_blocks == blocks));
    }
  }
}

TEST_CASE("ltx2 pipeline params: validate names the field and the rule") {
  auto expect_error = [](PipelineParams p, const std::string& field) {
    try {
      p.validate();
      FAIL("no error for " << field);
    } catch (const std::invalid_argument& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(field) != std::string::npos);
    }
  };
  PipelineParams p;
  p.frames = 120;
  expect_error(p, "frames");
  p = {};
  p.width = 1000;
  expect_error(p, "width");
  p = {};
  p.height = 96;
  expect_error(p, "height");
  p = {};
  p.steps = 0;
  expect_error(p, "steps");
  p = {};
  p.fps = 0;
  expect_error(p, "fps");
  p = {};
  p.video_guider.stg_blocks = {-1};
  expect_error(p, "video_guider.stg_blocks");
  p = {};
  p.audio_guider.skip_step = 1;
  expect_error(p, "skip_step");
  p = {};
  p.frames = 1;
  p.fps = 1000;
  expect_error(p, "audio");
  p = {};
  p.width = 128;
  p.height = 64;
  p.frames = 9;
  CHECK_NOTHROW(p.validate());
}
