// LTX-2.3 video VAE decoder and tiled decoding vs ltx-core (fixture from
// tests/worker/engine/ltx2/reference/video_decoder_reference.py), plus config refusals, loader errors, the
// pipeline's default tiling and the streaming block fields.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <algorithm>
#include <filesystem>
#include <string>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/ltx2/video_decoder.hpp"
#include "worker/engine/ltx2/video_decoder_working_set.hpp"

using ff::test::rel_err;
using ff::test::error_of;

namespace {

using namespace ff::ltx2;
namespace io = ff::io;

const std::string kDecoderFixture = std::string(FF_LTX2_FIXTURES) + "/video_decoder.safetensors";

struct Fixture {
  io::Checkpoint ck;
  VideoDecoderConfig cfg;
  ff::json::Json meta(const std::string& key) const { return ff::json::parse(ck.metadata().at(key), "test"); }
  at::Tensor get(const std::string& name) const { return ck.view(name); }
  static Fixture open() {
    REQUIRE_MESSAGE(std::filesystem::exists(kDecoderFixture),
                    "missing fixture " << kDecoderFixture
                                       << ": run tests/worker/engine/ltx2/reference/video_decoder_reference.py --out tests/worker/engine/ltx2/fixtures");
    io::Checkpoint ck = io::Checkpoint::open(kDecoderFixture);
    VideoDecoderConfig cfg = video_decoder_config_from_checkpoint(ck);
    return {std::move(ck), std::move(cfg)};
  }
};

VideoTilingConfig tiling_from(const ff::json::Json& v) {
  auto axis = [&](const char* k) { return TileAxis{v[k][0].get<int64_t>(), v[k][1].get<int64_t>()}; };
  return {axis("frames"), axis("height"), axis("width")};
}

// The published LTX-2.3 "vae" section.
ff::json::Json vae_23() {
  return ff::json::parse(R"({"_class_name": "CausalVideoAutoencoder", "dims": 3, "in_channels": 3, "out_channels": 3,
    "latent_channels": 128,
    "encoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space_res", {"multiplier": 2}],
      ["res_x", {"num_layers": 6}], ["compress_time_res", {"multiplier": 2}], ["res_x", {"num_layers": 4}],
      ["compress_all_res", {"multiplier": 2}], ["res_x", {"num_layers": 2}], ["compress_all_res", {"multiplier": 1}],
      ["res_x", {"num_layers": 2}]],
    "decoder_blocks": [["res_x", {"num_layers": 4}], ["compress_space", {"multiplier": 2}],
      ["res_x", {"num_layers": 6}], ["compress_time", {"multiplier": 2}], ["res_x", {"num_layers": 4}],
      ["compress_all", {"multiplier": 1}], ["res_x", {"num_layers": 2}], ["compress_all", {"multiplier": 2}],
      ["res_x", {"num_layers": 2}]],
    "scaling_factor": 1.0, "norm_layer": "pixel_norm", "patch_size": 4, "latent_log_var": "uniform",
    "use_quant_conv": false, "causal_decoder": false, "timestep_conditioning": false,
    "normalize_latent_channels": false, "encoder_base_channels": 128, "decoder_base_channels": 128,
    "spatial_padding_mode": "zeros"})", "test");
}

std::string refusal(const std::string& key, ff::json::Json value) {
  ff::json::Json v = vae_23();
  if (value.is_null())
    v.erase(key);
  else
    v[key] = std::move(value);
  return error_of([&] { video_decoder_config_from_json(v, "f.safetensors: config.vae"); });
}

std::string block_refusal(const std::string& block_json) {
  ff::json::Json v = vae_23();
  v["decoder_blocks"] = ff::json::parse("[" + block_json + "]", "test");
  return error_of([&] { video_decoder_config_from_json(v, "f.safetensors: config.vae"); });
}

}  // namespace

TEST_CASE("video decoder config: LTX-2.3's section gives the 407.2 M decoder of 84 tensors") {
  const VideoDecoderConfig c = video_decoder_config_from_json(vae_23(), "vae");
  REQUIRE(c.blocks.size() == 9);
  CHECK(c.bottleneck_channels() == 1024);
  CHECK(c.final_channels() == 128);
  CHECK(c.conv_out_channels() == 48);
  const VideoScale s = c.scale();
  CHECK((s.time == 8 && s.height == 32 && s.width == 32));
  // execution order and widths (LTX23.md section 4)
  const int64_t ins[] = {1024, 1024, 512, 512, 512, 512, 256, 256, 128};
  const int64_t outs[] = {1024, 512, 512, 512, 512, 256, 256, 128, 128};
  const char* names[] = {"res_x", "compress_all", "res_x", "compress_all", "res_x",
                         "compress_time", "res_x", "compress_space", "res_x"};
  for (size_t i = 0; i < 9; ++i) {
    CHECK(c.blocks[i].in_channels == ins[i]);
    CHECK(c.blocks[i].out_channels == outs[i]);
    CHECK(std::string(video_decoder_block_name(c.blocks[i].kind)) == names[i]);
  }
  CHECK(c.blocks[1].conv_out_channels() == 4096);
  CHECK(c.blocks[3].conv_out_channels() == 4096);
  CHECK(c.blocks[5].conv_out_channels() == 512);
  CHECK(c.blocks[7].conv_out_channels() == 512);
  VideoDecoderWeights w;
  const auto slots = video_decoder_slots(w, c);
  CHECK(slots.size() == 86);
  int64_t params = 0;
  for (const auto& sl : slots)
    if (sl.name.rfind("vae.decoder.", 0) == 0) {
      int64_t n = 1;
      for (auto d : sl.shape) n *= d;
      params += n;
    }
  CHECK(params == 407169072);
  CHECK(slots[2].name == "vae.decoder.conv_in.conv.weight");
  CHECK(slots[4].name == "vae.decoder.up_blocks.0.res_blocks.0.conv1.conv.weight");
  CHECK(slots.back().name == "vae.decoder.conv_out.conv.bias");
  // to_json round trip
  const VideoDecoderConfig back =
      video_decoder_config_from_json(ff::json::Json(video_decoder_config_to_json(c)), "round trip");
  CHECK(back.blocks.size() == c.blocks.size());
  CHECK(back.bottleneck_channels() == 1024);
}

TEST_CASE("video decoder config: unsupported settings are refused naming the key") {
  auto has = [](const std::string& msg, const std::string& part) {
    INFO(msg);
    CHECK(msg.find("f.safetensors: config.vae") != std::string::npos);
    CHECK(msg.find(part) != std::string::npos);
  };
  has(refusal("causal_decoder", true), "config.vae.causal_decoder: true is not supported");
  has(refusal("timestep_conditioning", true), "config.vae.timestep_conditioning: true is not supported");
  has(refusal("timestep_conditioning", nullptr), "config.vae.timestep_conditioning: is missing");
  has(refusal("timestep_conditioning", "no"), "config.vae.timestep_conditioning: expected boolean, got string");
  has(refusal("spatial_padding_mode", "reflect"), "config.vae.spatial_padding_mode: 'reflect' is not supported");
  has(refusal("spatial_padding_mode", nullptr), "config.vae.spatial_padding_mode: is missing");
  has(refusal("norm_layer", "group_norm"), "config.vae.norm_layer: ");
  has(refusal("dims", 2), "config.vae.dims: must be 3");
  has(refusal("_class_name", "CausalDiffusionVAE"), "config.vae._class_name: ");
  has(refusal("decoder_spatial_padding_mode", "zeros"), "config.vae.decoder_spatial_padding_mode: unknown key");
  has(block_refusal(R"(["attn", {}])"), "'attn' is not supported");
  has(block_refusal(R"(["attn_res_x", {"num_layers": 1, "attention_head_dim": 8}])"), "'attn_res_x'");
  has(block_refusal(R"(["res_x_y", {"multiplier": 2}])"), "'res_x_y' is not supported");
  has(block_refusal(R"(["compress_sideways", {"multiplier": 2}])"), "unknown decoder block 'compress_sideways'");
  has(block_refusal(R"(["res_x", {"num_layers": 2, "inject_noise": true}])"),
      "config.vae.decoder_blocks[0] ('res_x').inject_noise: true is not supported");
  has(block_refusal(R"(["compress_all", {"multiplier": 2, "residual": true}])"), ".residual: true is not supported");
  has(block_refusal(R"(["res_x", {"layers": 2}])"), "config.vae.decoder_blocks[0] ('res_x').layers: unknown key");
  // what 2.3 does not set but ltx-core accepts: int params, residual false, the encoder keys
  CHECK(block_refusal(R"(["res_x", 3], ["compress_all", {"multiplier": 2, "residual": false}])").empty());
}

TEST_CASE("video decoder: loader names a missing or mis-shaped tensor") {
  const VideoDecoderConfig c = video_decoder_config_from_json(vae_23(), "vae");
  ff::json::Json small = vae_23();
  small["latent_channels"] = 4;
  small["decoder_base_channels"] = 2;
  small["decoder_blocks"] = ff::json::parse(R"([["res_x", 1], ["compress_all", {"multiplier": 2}]])", "test");
  const VideoDecoderConfig sc = video_decoder_config_from_json(small, "vae");
  VideoDecoderWeights w;
  auto slots = video_decoder_slots(w, sc);
  at::Generator gen = at::detail::createCPUGenerator(7);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& s : slots) tensors.emplace_back(s.name, ff::layers::random_tensor(s, gen));
  const ff::json::Json cfg{{"vae", small}};
  const std::map<std::string, std::string> meta = {{"config", cfg.dump()}};
  ff::test::TempDir dir;
  auto missing = tensors;
  const std::string gone = "vae.decoder.up_blocks.1.res_blocks.0.conv1.conv.weight";  // block 1 runs res_x
  missing.erase(std::find_if(missing.begin(), missing.end(), [&](const auto& p) { return p.first == gone; }));
  io::write_safetensors(dir.file("missing.safetensors"), missing, meta);
  const auto ck = io::Checkpoint::open(dir.file("missing.safetensors"));
  CHECK(video_decoder_config_from_checkpoint(ck).blocks.size() == 2);
  const std::string msg = error_of([&] { load_video_decoder(ck, sc, at::kCPU, at::kFloat); });
  CHECK(msg.find("missing tensor '" + gone + "'") != std::string::npos);
  CHECK(msg.find("missing.safetensors") != std::string::npos);
  auto wrong = tensors;
  wrong[1].second = at::ones({5});  // std-of-means
  io::write_safetensors(dir.file("wrong.safetensors"), wrong, meta);
  const std::string msg2 =
      error_of([&] { load_video_decoder(io::Checkpoint::open(dir.file("wrong.safetensors")), sc, at::kCPU, at::kFloat); });
  CHECK(msg2.find("vae.per_channel_statistics.std-of-means") != std::string::npos);
  (void)c;
}

TEST_CASE("video tiling: the pipeline's default layout and latent splits match ltx-core") {
  const Fixture fx = Fixture::open();
  const ff::json::Json autos = fx.meta("auto_tiling_cases"), splits = fx.meta("split_cases");
  for (const auto& k : autos) {
    const VideoTilingConfig t = default_video_tiling(k["height"].get<int64_t>(), k["width"].get<int64_t>());
    const VideoTilingConfig want = tiling_from(k["tile"]);
    INFO((k).dump());
    CHECK(t.frames == want.frames);
    CHECK(t.height == want.height);
    CHECK(t.width == want.width);
  }
  for (const auto& k : splits) {
    const VideoTilingConfig t = default_video_tiling(k["height"].get<int64_t>(), k["width"].get<int64_t>());
    const VideoScale s;
    const char* axes[] = {"frames", "height", "width"};
    const TileAxis cfgs[] = {t.frames, t.height, t.width};
    const int64_t factors[] = {s.time, s.height, s.width};
    for (int a = 0; a < 3; ++a) {
      const auto got = axis_intervals(cfgs[a], factors[a], a == 0, k["latent"][a].get<int64_t>());
      const auto& want = k["intervals"][axes[a]];
      INFO((k).dump(), " axis ", axes[a]);
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i)
        CHECK(got[i] == TileInterval{want[i][0].get<int64_t>(), want[i][1].get<int64_t>(), want[i][2].get<int64_t>(), want[i][3].get<int64_t>()});
    }
  }
}

namespace {

struct Run {
  at::Tensor untiled, tiled_a, tiled_b, raw;
};

Run run_fixture(const Fixture& fx, at::ScalarType dtype) {
  const VideoDecoderWeights w = load_video_decoder(fx.ck, fx.cfg, at::kCPU, dtype);
  const at::Tensor latent = fx.get("latent").to(dtype);
  const ff::json::Json tilings = fx.meta("tilings");
  Run r;
  r.raw = video_decoder_forward(w, fx.cfg, latent);
  r.untiled = decode_video_latent(w, fx.cfg, latent, std::nullopt);
  r.tiled_a = decode_video_latent(w, fx.cfg, latent, tiling_from(tilings["tiled_a"]));
  r.tiled_b = decode_video_latent(w, fx.cfg, latent, tiling_from(tilings["tiled_b"]));
  return r;
}

}  // namespace

TEST_CASE("video decoder: fixture config is the tiny all-block-kinds decoder") {
  const Fixture fx = Fixture::open();
  REQUIRE(fx.cfg.blocks.size() == 7);
  CHECK(fx.cfg.patch_size == 2);
  const VideoScale s = fx.cfg.scale();
  CHECK((s.time == 4 && s.height == 8 && s.width == 8));
  CHECK(fx.cfg.blocks[1].kind == VideoDecoderBlockKind::kCompressAll);
  CHECK(fx.cfg.blocks[3].kind == VideoDecoderBlockKind::kCompressTime);
  CHECK(fx.cfg.blocks[5].kind == VideoDecoderBlockKind::kCompressSpace);
  CHECK(fx.cfg.blocks[4].num_layers == 2);
}

TEST_CASE("video decoder: float32 untiled and tiled match ltx-core") {
  const Fixture fx = Fixture::open();
  const Run r = run_fixture(fx, at::kFloat);
  const at::Tensor want_raw = fx.get("raw_f32"), want = fx.get("frames_f32_untiled");
  const at::Tensor want_a = fx.get("frames_f32_tiled_a"), want_b = fx.get("frames_f32_tiled_b");
  REQUIRE((r.raw.sizes() == want_raw.sizes()));
  REQUIRE((r.untiled.sizes() == want.sizes()));
  REQUIRE((r.tiled_a.sizes() == want_a.sizes()));
  REQUIRE((r.tiled_b.sizes() == want_b.sizes()));
  CHECK((r.untiled.scalar_type() == at::kFloat));
  const double e_raw = rel_err(r.raw, want_raw), e = rel_err(r.untiled, want);
  const double e_a = rel_err(r.tiled_a, want_a), e_b = rel_err(r.tiled_b, want_b);
  MESSAGE("fp32 rel err: raw " << e_raw << ", untiled " << e << ", tiled_a " << e_a << ", tiled_b " << e_b);
  CHECK(e_raw <= 1e-4);
  CHECK(e <= 1e-4);
  CHECK(e_a <= 1e-4);
  CHECK(e_b <= 1e-4);
  // tiling is not the untiled result: the comparison above could not pass by decoding untiled
  CHECK(rel_err(want_a, want) > 1e-3);
  CHECK(rel_err(want_b, want) > 1e-3);
  CHECK(rel_err(r.tiled_a, want) > 1e-3);
}

TEST_CASE("video decoder: bfloat16 untiled and tiled match ltx-core") {
  const Fixture fx = Fixture::open();
  const Run r = run_fixture(fx, at::kBFloat16);
  CHECK((r.untiled.scalar_type() == at::kBFloat16));
  CHECK((r.tiled_a.scalar_type() == at::kBFloat16));
  const char* names[] = {"untiled", "tiled_a", "tiled_b"};
  const at::Tensor got[] = {r.untiled, r.tiled_a, r.tiled_b};
  for (int i = 0; i < 3; ++i) {
    const at::Tensor ref32 = fx.get(std::string("frames_f32_") + names[i]);
    const at::Tensor ref16 = fx.get(std::string("frames_bf16_") + names[i]);
    REQUIRE((got[i].sizes() == ref32.sizes()));
    const double e32 = rel_err(got[i], ref32), e16 = rel_err(got[i], ref16);
    MESSAGE("bf16 " << std::string(names[i]) << ": rel err vs ltx-core fp32 " << e32 << ", vs ltx-core bf16 " << e16);
    CHECK(e32 <= 2e-2);
    CHECK(e16 <= 2e-2);
  }
}

TEST_CASE("video decoder: uint8 conversion is ltx-core's RGB24 converter") {
  const Fixture fx = Fixture::open();
  const at::Tensor u32 = frames_to_uint8(fx.get("frames_f32_untiled"));
  const at::Tensor u16 = frames_to_uint8(fx.get("frames_bf16_untiled"));
  CHECK((u32.scalar_type() == at::kByte));
  CHECK(at::equal(u32, fx.get("u8_from_f32")));
  CHECK(at::equal(u16, fx.get("u8_from_bf16")));
  // the whole path: decode_video_to_uint8 differs only where fp32 noise crosses a level
  const VideoDecoderWeights w = load_video_decoder(fx.ck, fx.cfg, at::kCPU, at::kFloat);
  const at::Tensor u8 = decode_video_to_uint8(w, fx.cfg, fx.get("latent").to(at::kFloat), std::nullopt);
  REQUIRE((u8.sizes() == u32.sizes()));
  const at::Tensor diff = (u8.to(at::kInt) - u32.to(at::kInt)).abs();
  CHECK(diff.max().item<int>() <= 1);
  CHECK(diff.gt(0).to(at::kFloat).mean().item<float>() < 0.01f);
}

TEST_CASE("video decoder: tiles covering everything equal the untiled decode, streamed blocks equal resident") {
  const Fixture fx = Fixture::open();
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    const VideoDecoderWeights w = load_video_decoder(fx.ck, fx.cfg, at::kCPU, dtype);
    const at::Tensor latent = fx.get("latent").to(dtype);
    const at::Tensor untiled = decode_video_latent(w, fx.cfg, latent, std::nullopt);
    const VideoTilingConfig huge{{400, 0}, {800, 0}, {800, 0}};
    CHECK(at::equal(decode_video_latent(w, fx.cfg, latent, huge), untiled));
    // every block through rt::BlockTensors, as a streamed slot hands it over
    at::Tensor x = video_decoder_input(w, fx.cfg, latent);
    for (size_t i = 0; i < fx.cfg.blocks.size(); ++i) {
      const auto bt = video_decoder_block_tensors(w.blocks[i]);
      x = video_decoder_block(video_decoder_block_from(bt, fx.cfg, i), fx.cfg, i, x);
    }
    CHECK(at::equal(decoded_to_frames(video_decoder_output(w, fx.cfg, x, dtype)), untiled));
  }
}

TEST_CASE("video tiling: chunks come out in order and bounded by a temporal group") {
  const Fixture fx = Fixture::open();
  const VideoDecoderWeights w = load_video_decoder(fx.ck, fx.cfg, at::kCPU, at::kFloat);
  const at::Tensor latent = fx.get("latent").to(at::kFloat);
  const ff::json::Json tilings = fx.meta("tilings");
  std::vector<int64_t> a, b;
  decode_video_latent_chunks(w, fx.cfg, latent, tiling_from(tilings["tiled_a"]),
                             [&](const at::Tensor& f) { a.push_back(f.size(0)); });
  decode_video_latent_chunks(w, fx.cfg, latent, tiling_from(tilings["tiled_b"]),
                             [&](const at::Tensor& f) { b.push_back(f.size(0)); });
  CHECK(a == std::vector<int64_t>{4, 9});
  CHECK(b == std::vector<int64_t>{0, 4, 9});  // B's second temporal tile starts at frame 0
  const auto tiles_a = make_video_tiles(4, 4, 6, tiling_from(tilings["tiled_a"]), fx.cfg.scale());
  const auto tiles_b = make_video_tiles(4, 4, 6, tiling_from(tilings["tiled_b"]), fx.cfg.scale());
  CHECK(tiles_a.size() == 12);
  CHECK(video_tile_masks_complementary(tiles_a, 13, 32, 48));
  CHECK_FALSE(video_tile_masks_complementary(tiles_b, 13, 32, 48));
}

TEST_CASE("video tiling: masks, splits and refusals") {
  const at::Tensor m = trapezoid_mask(9, 5, 4, true);  // a later temporal tile: ramp from 0
  CHECK(m[0].item<float>() == 0.0f);
  CHECK(m[4].item<float>() == doctest::Approx(0.8));
  CHECK(m[5].item<float>() == doctest::Approx(0.8));
  CHECK(m[8].item<float>() == doctest::Approx(0.2));
  const at::Tensor s = trapezoid_mask(6, 2, 0, false);
  CHECK(s[0].item<float>() == doctest::Approx(1.0 / 3));
  CHECK(s[2].item<float>() == 1.0f);
  // 121 frames at 1024x1536: latent 16 x 32 x 48
  const auto t = split_temporal_causal(16, 10, 3);
  REQUIRE(t.size() == 2);
  CHECK(t[1] == TileInterval{6, 16, 4, 0});
  const auto h = split_by_size(48, 24, 2);
  REQUIRE(h.size() == 3);
  CHECK(h[1] == TileInterval{22, 46, 2, 2});
  CHECK(h[2] == TileInterval{44, 48, 2, 0});
  const VideoScale sc;
  CHECK(error_of([&] { validate_video_tiling({{80, 24}, {700, 64}, {768, 64}}, sc); }).find("height.tile_size") !=
        std::string::npos);
  CHECK(error_of([&] { validate_video_tiling({{80, 80}, {768, 64}, {768, 64}}, sc); }).find("frames") !=
        std::string::npos);
  CHECK(error_of([&] { validate_video_tiling({{0, 8}, {768, 64}, {768, 64}}, sc); }).find("untiled") !=
        std::string::npos);
}

TEST_CASE("video decoder: working-set estimate grows with the tile, tiling bounds it") {
  const VideoDecoderConfig c = video_decoder_config_from_json(vae_23(), "vae");
  const int64_t untiled = video_decoder_working_set_bytes(c, 16, 32, 48, std::nullopt, 2);
  const int64_t tiled = video_decoder_working_set_bytes(c, 16, 32, 48, default_video_tiling(1024, 1536), 2);
  MESSAGE("LTX-2.3 decode of 121x1024x1536 bf16: untiled " << untiled / (1 << 20) << " MiB, default tiling "
                                                         << tiled / (1 << 20) << " MiB");
  CHECK(untiled > tiled);
  CHECK(tiled > video_decoder_forward_bytes(c, 10, 16, 24, 2));
  CHECK(video_decoder_forward_bytes(c, 2, 2, 2, 2) < video_decoder_forward_bytes(c, 4, 2, 2, 2));
}
