// AVStage (worker/engine/app/av_stage.hpp) on the tiny LTX-2.3 transformer of the av_transformer
// fixture, on the CPU backend: every placement gives the resident numbers bit for bit, all passes
// of a step in one sweep equal separate forwards, and a LoRA-delta stage over stage 1's blocks
// equals the transformer with the delta attached.
#include "tests/worker/engine/doctest_torch.hpp"

#include <memory>

#include "worker/engine/app/av_stage.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"

using namespace ff;
using namespace ff::engine;
using namespace ff::ltx2;

namespace {

const std::string kAvStageFixture = FF_LTX2_FIXTURES "/av_transformer.safetensors";

struct Fixture {
  std::shared_ptr<const io::SafetensorsFile> file = io::SafetensorsFile::open(kAvStageFixture);
  AVTransformerConfig config = av_transformer_config_from_json(
      config_section(config_from_metadata(file->metadata(), kAvStageFixture), "transformer", kAvStageFixture), kAvStageFixture);
  AVTransformerWeights weights() const {
    return load_av_transformer(*file, config, "model.diffusion_model.", at::kCPU, at::kFloat);
  }
  ModalityInput input(const std::string& m) const {
    ModalityInput in;
    in.latent = file->copy("in." + m + ".latent");
    in.sigma = file->copy("in." + m + ".timesteps");
    in.step_sigma = file->copy("in." + m + ".sigma");
    in.positions = file->copy("in." + m + ".positions");
    in.context = file->copy("in." + m + ".context");
    return in;
  }
};

// cond, uncond (other contexts), STG forked at its block, modality-isolated.
std::vector<AVPass> step_passes(const Fixture& f) {
  AVPass cond;
  cond.video = f.input("video");
  cond.audio = f.input("audio");
  AVPass uncond = cond;
  uncond.video.context = cond.video.context.flip(1) * 0.5;
  uncond.audio.context = cond.audio.context.flip(1) * 0.5;
  AVPass stg = cond;
  const int64_t block = std::stoll(f.file->metadata().at("stg_block"));
  stg.config.skip_self_attention_blocks = {block};
  stg.fork_of = 0;
  stg.fork_block = block;
  AVPass mod = cond;
  mod.config.skip_cross_modal = true;
  return {cond, uncond, stg, mod};
}

PlanLimits quiet() {
  PlanLimits l;
  l.log_plans = false;
  return l;
}

void check_equal(const std::vector<AVVelocity>& a, const std::vector<AVVelocity>& b) {
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    CHECK(at::equal(a[i].video, b[i].video));
    CHECK(at::equal(a[i].audio, b[i].audio));
  }
}

}  // namespace

TEST_CASE("one sweep over all passes of a step equals a separate forward per pass") {
  Fixture f;
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  const auto passes = step_passes(f);
  AVStage stage("stage1_transformer", f.config, f.weights(), rt::Placement::kResident, *backend, quiet());
  stage.plan(0, 0);
  const auto got = stage.evaluate(passes);
  const AVTransformerWeights w = f.weights();
  std::vector<AVVelocity> want;
  for (const auto& p : passes) want.push_back(av_transformer_forward(w, f.config, p.video, p.audio, p.config));
  check_equal(got, want);
  // The passes differ from each other (the test would not notice a pass ignored otherwise).
  for (size_t i = 1; i < got.size(); ++i) CHECK_FALSE(at::equal(got[i].video, got[0].video));
}

TEST_CASE("stream and auto placements give the resident velocities bit for bit") {
  Fixture f;
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  const auto passes = step_passes(f);
  AVStage resident("stage1_transformer", f.config, f.weights(), rt::Placement::kResident, *backend, quiet());
  resident.plan(0, 0);
  const auto want = resident.evaluate(passes);
  for (auto mode : {rt::Placement::kStream, rt::Placement::kAuto}) {
    AVStage placed("stage1_transformer", f.config, f.weights(), mode, *backend, quiet());
    placed.plan(0, 0);
    check_equal(placed.evaluate(passes), want);
    const auto s = placed.stats();
    CHECK(s.total_blocks == f.config.num_layers);
    CHECK(s.pinned_host_bytes >= 0);
    if (mode == rt::Placement::kStream) CHECK(s.streamed_bytes_total > 0);
  }
}

TEST_CASE("an auto stage under a tight budget keeps a resident prefix, streams the rest, same numbers") {
  Fixture f;
  // Six blocks (the fixture's three, twice), so that a prefix plus the 3-slot ring is less than all.
  AVTransformerConfig c6 = f.config;
  c6.num_layers = 2 * f.config.num_layers;
  auto six = [&] {
    AVTransformerWeights w = f.weights();
    const auto first = w.blocks;
    w.blocks.insert(w.blocks.end(), first.begin(), first.end());
    return w;
  };
  AVTransformerWeights probe = six();
  int64_t block_bytes = 0;
  for (auto& [name, t] : av_block_fields(probe.blocks[0]))
    if (t->defined()) block_bytes += static_cast<int64_t>(t->nbytes());
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  const auto passes = step_passes(f);
  std::vector<AVVelocity> want;
  for (const auto& p : passes) want.push_back(av_transformer_forward(probe, c6, p.video, p.audio, p.config));
  // Room for the globals, one resident block and the ring (3 blocks), not for all six.
  PlanLimits tight = quiet();
  const int64_t globals = layers::slot_bytes(av_global_slots(probe.globals, c6, ""));
  tight.budget_bytes = backend->meter().snapshot().allocated_bytes + globals + block_bytes * 9 / 2;
  AVStage limited("stage1_transformer", c6, six(), rt::Placement::kAuto, *backend, tight);
  limited.plan(0, 0);
  const auto s = limited.stats();
  CHECK(s.resident_blocks == 1);
  CHECK(s.placement == "auto:1/6");
  check_equal(limited.evaluate(passes), want);
  CHECK(limited.stats().streamed_bytes_total > 0);
}

TEST_CASE("a LoRA-delta stage over stage 1's blocks equals the transformer with the delta attached") {
  Fixture f;
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  const auto passes = step_passes(f);
  // A rank-2 LoRA on every Linear of block 0 and on patchify_proj, random factors.
  AVTransformerWeights shapes = f.weights();
  Lora lora;
  lora.path = "test-lora";
  at::manual_seed(3);
  for (auto& [name, lin] : av_transformer_linears(shapes, f.config)) {
    if (name.rfind("transformer_blocks.0.", 0) != 0 && name != "patchify_proj") continue;
    LoraFactors fac{at::randn({2, lin->weight.size(1)}) * 0.1, at::randn({lin->weight.size(0), 2}) * 0.1};
    lora.pairs.emplace(name, fac);
  }
  for (auto mode : {rt::Placement::kResident, rt::Placement::kStream}) {
    AVStage base("stage1_transformer", f.config, f.weights(), mode, *backend, quiet());
    auto stage2 = AVStage::lora_delta("stage2_transformer", base, lora, 0.8, at::kFloat, mode, *backend, quiet());
    stage2->plan(0, 0);
    const auto got = stage2->evaluate(passes);
    AVTransformerWeights attached = f.weights();
    LoraApply how;
    how.strength = 0.8;
    attach_lora_delta(lora, av_transformer_linears(attached, f.config), how);
    std::vector<AVVelocity> want;
    for (const auto& p : passes) want.push_back(av_transformer_forward(attached, f.config, p.video, p.audio, p.config));
    check_equal(got, want);
    // Stage 1 itself is untouched by its LoRA sibling.
    const auto plain = base.evaluate(passes);
    CHECK_FALSE(at::equal(plain[0].video, got[0].video));
  }
}

TEST_CASE("a LoRA whose target is not a Linear of the transformer is refused, naming it") {
  Fixture f;
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  AVStage base("stage1_transformer", f.config, f.weights(), rt::Placement::kResident, *backend, quiet());
  Lora lora;
  lora.path = "bad-lora";
  lora.pairs.emplace("transformer_blocks.0.attn9.to_q", LoraFactors{at::zeros({2, 4}), at::zeros({4, 2})});
  CHECK_THROWS_WITH_AS(AVStage::lora_delta("stage2_transformer", base, lora, 1.0, at::kFloat,
                                           rt::Placement::kResident, *backend, quiet()),
                       doctest::Contains("transformer_blocks.0.attn9.to_q"), std::invalid_argument);
}
