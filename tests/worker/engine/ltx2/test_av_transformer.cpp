// Parity of the C++ LTX-2.3 audio-video transformer with ltx-core's LTXModel / X0Model.
// Fixture: tests/worker/engine/ltx2/fixtures/av_transformer.safetensors, written by
// tests/worker/engine/ltx2/reference/av_transformer_reference.py (tiny config with every 2.3 feature on; plain,
// STG and modality-isolated passes in fp32 and bf16; batch 2 with a clean first video frame).
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <filesystem>
#include <set>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"

using ff::test::rel_err;

namespace {

using namespace ff::ltx2;

const std::string kAvFixture = std::string(FF_LTX2_FIXTURES) + "/av_transformer.safetensors";
const std::string kPrefix = "model.diffusion_model.";

std::shared_ptr<const ff::io::SafetensorsFile> av_fixture() {
  if (!std::filesystem::exists(kAvFixture))
    FAIL("missing fixture " << kAvFixture << ": run tests/worker/engine/ltx2/reference/av_transformer_reference.py "
                                 "--out tests/worker/engine/ltx2/fixtures on the GPU host");
  return ff::io::SafetensorsFile::open(kAvFixture);
}

AVTransformerConfig fixture_config(const ff::io::SafetensorsFile& f) {
  const auto cfg = config_from_metadata(f.metadata(), f.path());
  return av_transformer_config_from_json(config_section(cfg, "transformer", f.path()), f.path() + " transformer");
}

ModalityInput input(const ff::io::SafetensorsFile& f, const std::string& m, at::ScalarType dtype) {
  ModalityInput in;
  in.latent = f.copy("in." + m + ".latent").to(dtype);
  in.sigma = f.copy("in." + m + ".timesteps");
  in.step_sigma = f.copy("in." + m + ".sigma");
  in.positions = f.copy("in." + m + ".positions");
  in.context = f.copy("in." + m + ".context").to(dtype);
  return in;
}

PassConfig pass_of(const std::string& kind, int64_t stg_block) {
  PassConfig p;
  if (kind == "stg") p.skip_self_attention_blocks = {stg_block};
  if (kind == "mod") p.skip_cross_modal = true;
  return p;
}

int64_t stg_block(const ff::io::SafetensorsFile& f) { return std::stoll(f.metadata().at("stg_block")); }

ff::json::Json published_section() {
  return ff::json::parse(R"({
    "_class_name": "AVTransformer3DModel", "activation_fn": "gelu-approximate", "attention_bias": true,
    "attention_head_dim": 128, "attention_type": "default", "caption_channels": 3840,
    "cross_attention_dim": 4096, "double_self_attention": false, "dropout": 0.0, "in_channels": 128,
    "norm_elementwise_affine": false, "norm_eps": 1e-06, "norm_num_groups": 32, "num_attention_heads": 32,
    "num_embeds_ada_norm": 1000, "num_layers": 48, "num_vector_embeds": null, "only_cross_attention": false,
    "cross_attention_norm": true, "out_channels": 128, "upcast_attention": false, "use_linear_projection": false,
    "qk_norm": "rms_norm", "standardization_norm": "rms_norm", "positional_embedding_type": "rope",
    "positional_embedding_theta": 10000.0, "positional_embedding_max_pos": [20, 2048, 2048],
    "timestep_scale_multiplier": 1000, "av_ca_timestep_scale_multiplier": 1000.0,
    "causal_temporal_positioning": true, "audio_num_attention_heads": 32, "audio_attention_head_dim": 64,
    "use_audio_video_cross_attention": true, "share_ff": false, "audio_out_channels": 128,
    "audio_cross_attention_dim": 2048, "audio_positional_embedding_max_pos": [20], "av_cross_ada_norm": true,
    "use_embeddings_connector": true, "connector_attention_head_dim": 128, "connector_num_attention_heads": 32,
    "connector_num_layers": 8, "connector_positional_embedding_max_pos": [4096],
    "connector_num_learnable_registers": 128, "connector_norm_output": true, "use_middle_indices_grid": true,
    "apply_gated_attention": true, "connector_apply_gated_attention": true,
    "caption_projection_first_linear": false, "caption_projection_second_linear": false,
    "caption_proj_input_norm": false, "connector_learnable_registers_std": 1,
    "caption_proj_before_connector": true, "audio_connector_attention_head_dim": 64,
    "audio_connector_num_attention_heads": 32, "cross_attention_adaln": true,
    "text_encoder_norm_type": "per_token_rms", "rope_type": "split", "frequencies_precision": "float64"})", "test");
}

void expect_refused(const std::string& key, const ff::json::Json& value, const std::string& fragment) {
  ff::json::Json s = published_section();
  s[key] = value;
  try {
    av_transformer_config_from_json(s, "cfg");
    FAIL("accepted " << key);
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.rfind("cfg." + key + ": ", 0) == 0, msg);  // names the key path first
    CHECK_MESSAGE(msg.find(fragment) != std::string::npos, msg);
  }
}

}  // namespace

TEST_CASE("av config: the published section decodes and unsupported values are refused") {
  const AVTransformerConfig c = av_transformer_config_from_json(published_section(), "cfg");
  CHECK(c.num_layers == 48);
  CHECK(c.inner_dim() == 4096);
  CHECK(c.audio_inner_dim() == 2048);
  CHECK(c.av_ca_timestep_scale_multiplier == 1000.0);
  CHECK(c.timestep_scale_multiplier == 1000.0);
  CHECK(c.double_precision_rope);
  CHECK(c.apply_gated_attention);
  CHECK(c.cross_attention_adaln);
  CHECK(c.has_prompt_adaln());
  CHECK(c.adaln_coefficient() == 9);
  CHECK(c.norm_eps == doctest::Approx(1e-6));
  CHECK(c.positional_embedding_max_pos == std::vector<int64_t>{20, 2048, 2048});
  CHECK(c.unrecognized_keys.empty());

  expect_refused("rope_type", "interleaved", "split");
  expect_refused("caption_proj_before_connector", false, "caption projection");
  expect_refused("audio_num_attention_heads", 16, "head counts");
  expect_refused("use_keyframes_abs_pos_embedding", true, "keyframe");
  expect_refused("frequencies_precision", "bfloat16", "float64");
  expect_refused("qk_norm", "layer_norm", "rms_norm");
  expect_refused("cross_attention_dim", 3840, "caption projection");
  expect_refused("num_layers", "48", "integer");
  {
    ff::json::Json s = published_section();
    s.erase("caption_proj_before_connector");
    CHECK_THROWS_AS(av_transformer_config_from_json(s, "cfg"), std::invalid_argument);
  }
  {
    ff::json::Json s = published_section();
    s["some_future_key"] = 3;
    const AVTransformerConfig c2 = av_transformer_config_from_json(s, "cfg");
    CHECK(c2.unrecognized_keys == std::vector<std::string>{"some_future_key"});
  }
}

TEST_CASE("av weights: slots are exactly the transformer tensors of the fixture (also linears and block fields)") {
  auto f = av_fixture();
  const AVTransformerConfig c = fixture_config(*f);
  CHECK(c.num_layers == 3);
  CHECK(c.av_ca_timestep_scale_multiplier == 1000.0);
  AVTransformerWeights w;
  std::set<std::string> slot_names;
  for (const auto& s : av_transformer_slots(w, c, kPrefix)) {
    CHECK_MESSAGE(slot_names.insert(s.name).second, "duplicate slot " << s.name);
    const ff::io::TensorInfo* info = f->find(s.name);
    REQUIRE_MESSAGE(info != nullptr, "slot not in the ltx-core state_dict: " << s.name);
    CHECK_MESSAGE(info->shape == s.shape, s.name);
  }
  std::set<std::string> file_names;
  for (const auto& t : f->tensors())
    if (t.name.rfind(kPrefix, 0) == 0) file_names.insert(t.name);
  CHECK(slot_names == file_names);

  w = load_av_transformer(*f, c, kPrefix, at::kCPU, at::kFloat);
  const auto linears = av_transformer_linears(w, c);
  std::set<std::string> linear_names;
  for (const auto& [name, l] : linears) {
    linear_names.insert(name);
    CHECK_MESSAGE(l->weight.defined(), name);
    CHECK_MESSAGE(f->find(kPrefix + name + ".weight") != nullptr, name);
  }
  CHECK(linear_names.count("transformer_blocks.2.audio_to_video_attn.to_gate_logits") == 1);
  CHECK(linear_names.count("transformer_blocks.0.ff.net.0.proj") == 1);
  CHECK(linear_names.count("av_ca_a2v_gate_adaln_single.emb.timestep_embedder.linear_1") == 1);
  size_t file_linears = 0;
  for (const auto& n : file_names)
    if (n.size() > 7 && n.compare(n.size() - 7, 7, ".weight") == 0 && f->find(n)->shape.size() == 2 &&
        n.find("scale_shift_table") == std::string::npos)
      ++file_linears;
  CHECK(linears.size() == file_linears);

  size_t defined = 0;
  for (auto& [name, t] : av_block_fields(w.blocks[1])) {
    if (!t->defined()) continue;
    ++defined;
    const std::string full = kPrefix + "transformer_blocks.1." + name;
    REQUIRE_MESSAGE(f->find(full) != nullptr, full);
    CHECK(at::equal(*t, f->copy(full).to(at::kFloat)));
  }
  AVBlockWeights probe;
  CHECK(defined == av_block_slots(probe, c, kPrefix, 1).size());
}

TEST_CASE("av weights: a mis-shaped or missing tensor is an error naming file and tensor") {
  auto f = av_fixture();
  AVTransformerConfig c = fixture_config(*f);
  c.in_channels = 64;
  try {
    load_av_transformer(*f, c, kPrefix, at::kCPU, std::nullopt);
    FAIL("loaded a mis-shaped tensor");
  } catch (const ff::io::CheckpointError& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("'model.diffusion_model.patchify_proj.weight'") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("av_transformer.safetensors") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("shape") != std::string::npos, msg);
  }
  c = fixture_config(*f);
  c.num_layers = 4;
  try {
    load_av_transformer(*f, c, kPrefix, at::kCPU, std::nullopt);
    FAIL("loaded a missing block");
  } catch (const ff::io::CheckpointError& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("missing tensor 'model.diffusion_model.transformer_blocks.3.") != std::string::npos, msg);
  }
}

TEST_CASE("av positions and patchify and RoPE tables match ltx-core") {
  auto f = av_fixture();
  const AVTransformerConfig c = fixture_config(*f);
  const double fps = std::stod(f->metadata().at("fps"));
  const at::Tensor v5 = f->copy("in.video_latent_5d"), a4 = f->copy("in.audio_latent_4d");
  CHECK(at::equal(patchify_video(v5), f->copy("in.video.latent")));
  CHECK(at::equal(unpatchify_video(patchify_video(v5), v5.size(2), v5.size(3), v5.size(4)), v5));
  CHECK(at::equal(patchify_audio(a4), f->copy("in.audio.latent")));
  CHECK(at::equal(unpatchify_audio(patchify_audio(a4), a4.size(1), a4.size(3)), a4));
  const at::Tensor vpos = video_positions(v5.size(2), v5.size(3), v5.size(4), fps, {}, true, v5.size(0));
  CHECK(at::equal(vpos, f->copy("in.video.positions")));
  CHECK(at::equal(audio_positions(a4.size(2), a4.size(0)), f->copy("in.audio.positions")));
  // Latent frame 0 spans [0, 1/24] s; frame 1 [1/24, 9/24] s.
  CHECK(vpos[0][0][0][1].item<float>() == doctest::Approx(1.0 / 24));
  CHECK(vpos[0][0][6][1].item<float>() == doctest::Approx(9.0 / 24));

  // Real-size frequency grids (4096 / 3 axes, 2048 / 1 axis): float64 path and float32 path.
  // (The float32 and float64 grids differ by 1.7e-7 relative: the check must be exact.)
  CHECK(at::equal(rope_freq_grid(1e4, 3, 4096, true), f->copy("grid.video.f64")));
  CHECK(at::equal(rope_freq_grid(1e4, 1, 2048, true), f->copy("grid.audio.f64")));
  // The float32 path (unused by 2.3) depends on the libtorch build's linspace/pow: ~2e-7 here.
  CHECK(rel_err(rope_freq_grid(1e4, 3, 4096, false), f->copy("grid.video.f32")) <= 1e-6);
  CHECK(rope_freq_grid(1e4, 3, 4096, true).size(0) == 682);

  const at::Tensor ap = f->copy("in.audio.positions");
  const std::vector<int64_t> cross_max{20};
  for (auto [tag, dtype] : {std::pair<const char*, at::ScalarType>{"f32", at::kFloat}, {"bf16", at::kBFloat16}}) {
    // bf16: ltx-core computes the table in fp32 and rounds once, as here.
    const double tol = dtype == at::kFloat ? 1e-6 : 1e-3;
    struct Case {
      std::string name;
      RopeTables t;
    };
    const Case cases[] = {
        {"video", rope_tables(vpos, c.inner_dim(), c.num_attention_heads, c.positional_embedding_max_pos, 1e4, true,
                              true, dtype)},
        {"audio", rope_tables(ap, c.audio_inner_dim(), c.audio_num_attention_heads,
                              c.audio_positional_embedding_max_pos, 1e4, true, true, dtype)},
        {"cross_video", rope_tables(vpos.narrow(1, 0, 1), c.audio_cross_attention_dim, c.num_attention_heads,
                                    cross_max, 1e4, true, true, dtype)},
        {"cross_audio", rope_tables(ap, c.audio_cross_attention_dim, c.audio_num_attention_heads, cross_max, 1e4,
                                    true, true, dtype)},
    };
    for (const auto& k : cases) {
      const at::Tensor cos = f->copy("rope." + k.name + ".cos." + tag), sin = f->copy("rope." + k.name + ".sin." + tag);
      CHECK((k.t.cos.scalar_type() == dtype));
      CHECK_MESSAGE(rel_err(k.t.cos, cos) <= tol, k.name << " " << tag << " cos " << rel_err(k.t.cos, cos));
      CHECK_MESSAGE(rel_err(k.t.sin, sin) <= tol, k.name << " " << tag << " sin " << rel_err(k.t.sin, sin));
    }
    // Video: 64 / 2 = 32 entries = 2 identity entries + 10 frequencies x 3 axes; the pad is on the left.
    const at::Tensor vc = cases[0].t.cos, vs = cases[0].t.sin;
    CHECK(at::equal(vc.select(1, 0).narrow(-1, 0, 2), at::ones_like(vc.select(1, 0).narrow(-1, 0, 2))));
    CHECK(at::equal(vs.select(1, 0).narrow(-1, 0, 2), at::zeros_like(vs.select(1, 0).narrow(-1, 0, 2))));
  }
}

TEST_CASE("av transformer: plain and STG and modality-isolated passes match ltx-core in fp32 and bf16") {
  auto f = av_fixture();
  const AVTransformerConfig c = fixture_config(*f);
  const int64_t stg = stg_block(*f);
  for (auto [tag, dtype] : {std::pair<const char*, at::ScalarType>{"f32", at::kFloat}, {"bf16", at::kBFloat16}}) {
    // fp32 parity: weights cast to fp32. bf16: ltx-core's loader casts everything (tables too) to bf16.
    const AVTransformerWeights w = load_av_transformer(*f, c, kPrefix, at::kCPU, dtype);
    const double tol = dtype == at::kFloat ? 1e-4 : 2e-2;
    const ModalityInput video = input(*f, "video", dtype), audio = input(*f, "audio", dtype);
    for (const std::string kind : {"plain", "stg", "mod"}) {
      const AVVelocity v = av_transformer_forward(w, c, video, audio, pass_of(kind, stg));
      CHECK((v.video.scalar_type() == dtype));
      const std::string ref = "out." + kind + ".f32.";
      const double ev = rel_err(v.video, f->copy(ref + "video")), ea = rel_err(v.audio, f->copy(ref + "audio"));
      const at::Tensor vx0 = to_denoised(video.latent, v.video, video.sigma);
      const at::Tensor ax0 = to_denoised(audio.latent, v.audio, audio.sigma);
      CHECK((vx0.scalar_type() == dtype));
      const double ev0 = rel_err(vx0, f->copy(ref + "video_x0")), ea0 = rel_err(ax0, f->copy(ref + "audio_x0"));
      MESSAGE(kind << " " << std::string(tag) << " vs ltx-core fp32: velocity video " << ev << " audio " << ea
                   << ", x0 video " << ev0 << " audio " << ea0);
      CHECK(ev <= tol);
      CHECK(ea <= tol);
      CHECK(ev0 <= tol);
      CHECK(ea0 <= tol);
      if (dtype == at::kBFloat16) {  // and against ltx-core's own bf16 run
        const std::string rb = "out." + kind + ".bf16.";
        const double bv = rel_err(v.video, f->copy(rb + "video")), ba = rel_err(v.audio, f->copy(rb + "audio"));
        MESSAGE(kind << " bf16 vs ltx-core bf16: velocity video " << bv << " audio " << ba);
        CHECK(bv <= tol);
        CHECK(ba <= tol);
      }
    }
  }
}

TEST_CASE("av transformer: the step API equals forward and a state copied at the STG block resumes the STG pass") {
  auto f = av_fixture();
  const AVTransformerConfig c = fixture_config(*f);
  const int64_t stg = stg_block(*f);
  const AVTransformerWeights w = load_av_transformer(*f, c, kPrefix, at::kCPU, at::kFloat);
  const ModalityInput video = input(*f, "video", at::kFloat), audio = input(*f, "audio", at::kFloat);
  const PassConfig plain, ptb = pass_of("stg", stg);

  AVState s = av_prepare(w.globals, c, video, audio);
  for (int64_t i = 0; i < stg; ++i) av_block_forward(w.blocks[static_cast<size_t>(i)], c, i, plain, s);
  const at::Tensor vx_at_fork = s.video.x.clone(), ax_at_fork = s.audio.x.clone();
  AVState forked = s;  // shares every tensor with s
  for (int64_t i = stg; i < c.num_layers; ++i) av_block_forward(w.blocks[static_cast<size_t>(i)], c, i, ptb, forked);
  CHECK(at::equal(s.video.x, vx_at_fork));  // the fork did not write into shared tensors
  CHECK(at::equal(s.audio.x, ax_at_fork));
  for (int64_t i = stg; i < c.num_layers; ++i) av_block_forward(w.blocks[static_cast<size_t>(i)], c, i, plain, s);

  const AVVelocity stepped = av_finish(w.globals, c, s), resumed = av_finish(w.globals, c, forked);
  const AVVelocity full_plain = av_transformer_forward(w, c, video, audio, plain);
  const AVVelocity full_stg = av_transformer_forward(w, c, video, audio, ptb);
  CHECK(at::equal(stepped.video, full_plain.video));
  CHECK(at::equal(stepped.audio, full_plain.audio));
  CHECK(at::equal(resumed.video, full_stg.video));
  CHECK(at::equal(resumed.audio, full_stg.audio));
  CHECK(rel_err(full_stg.video, full_plain.video) > 1e-3);  // the perturbation matters
  CHECK(rel_err(resumed.video, f->copy("out.stg.f32.video")) <= 1e-4);

  // Weights as stored (BF16 Linears, F32 tables) cast at use give the same fp32 result.
  const AVTransformerWeights stored = load_av_transformer(*f, c, kPrefix, at::kCPU, std::nullopt);
  CHECK((stored.blocks[0].attn1.to_q.weight.scalar_type() == at::kBFloat16));
  CHECK((stored.blocks[0].scale_shift_table.scalar_type() == at::kFloat));
  const AVVelocity as_stored = av_transformer_forward(stored, c, video, audio, plain);
  CHECK(at::equal(as_stored.video, full_plain.video));
  CHECK(at::equal(as_stored.audio, full_plain.audio));
}

TEST_CASE("av transformer: the parity check sees the known traps") {
  // Each documented mistake must move the fp32 velocity well past this port's error (~1e-6).
  auto f = av_fixture();
  const AVTransformerConfig good = fixture_config(*f);
  const AVTransformerWeights w = load_av_transformer(*f, good, kPrefix, at::kCPU, at::kFloat);
  const ModalityInput video = input(*f, "video", at::kFloat), audio = input(*f, "audio", at::kFloat);
  const at::Tensor ref = f->copy("out.plain.f32.video");
  auto err = [&](const AVTransformerConfig& c, const ModalityInput& v, const ModalityInput& a) {
    return rel_err(av_transformer_forward(w, c, v, a).video, ref);
  };
  AVTransformerConfig c = good;
  c.av_ca_timestep_scale_multiplier = 1.0;  // ltx-core's default instead of the file's 1000
  const double e_avca = err(c, video, audio);
  c = good;
  c.double_precision_rope = false;  // float32 frequency grid
  const double e_grid = err(c, video, audio);
  ModalityInput one_sigma = video;  // the step sigma on every token (no clean first frame)
  one_sigma.sigma = video.step_sigma.view({-1, 1}).expand_as(video.sigma.squeeze(-1)).contiguous();
  const double e_tok = err(good, one_sigma, audio);
  ModalityInput swapped_v = video, swapped_a = audio;  // A/V gates fed their own stream's sigma
  std::swap(swapped_v.step_sigma, swapped_a.step_sigma);
  const double e_gate = rel_err(av_transformer_forward(w, good, swapped_v, swapped_a).audio, f->copy("out.plain.f32.audio"));
  MESSAGE("av_ca multiplier 1: " << e_avca << ", float32 grid: " << e_grid << ", one sigma per sample: " << e_tok
                                 << ", swapped step sigmas (audio): " << e_gate);
  CHECK(e_avca > 1e-2);
  CHECK(e_grid > 5e-6);
  CHECK(e_tok > 1e-2);
  CHECK(e_gate > 1e-3);
}

TEST_CASE("av transformer: inputs that do not fit the config are refused by name") {
  auto f = av_fixture();
  const AVTransformerConfig c = fixture_config(*f);
  const AVTransformerWeights w = load_av_transformer(*f, c, kPrefix, at::kCPU, at::kFloat);
  ModalityInput video = input(*f, "video", at::kFloat), audio = input(*f, "audio", at::kFloat);
  ModalityInput bad = video;
  bad.latent = video.latent.narrow(2, 0, 64);
  CHECK_THROWS_WITH_AS(av_prepare(w.globals, c, bad, audio), doctest::Contains("video.latent"), std::invalid_argument);
  bad = audio;
  bad.step_sigma = at::Tensor();
  CHECK_THROWS_WITH_AS(av_prepare(w.globals, c, video, bad), doctest::Contains("audio.step_sigma"),
                       std::invalid_argument);
  bad = video;
  bad.positions = audio.positions;
  CHECK_THROWS_WITH_AS(av_prepare(w.globals, c, bad, audio), doctest::Contains("video.positions"),
                       std::invalid_argument);
}
