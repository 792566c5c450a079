// The engine config's "vae_tiling" (worker/engine/app/engine_config.hpp VaeTiling): decoding of the
// object, true/false and defaults; refusals naming the key; the layouts it gives (the defaults are
// the pipeline's, whose 18 tiles at 121 x 1024 x 1536 the issue quotes; other sizes change the tile
// count as ltx-core's split formula says); and the tiled decode it drives through
// PlacedVideoDecoder on the video_decoder fixture: the decode of the config's layout equals ltx2's
// tiled decode (checked against ltx-core in tests/worker/engine/ltx2) of ltx-core's from_long_side layout,
// tiles covering the clip give the untiled frames, and ltx-core's own decode of that layout and
// its tile counts for other sizes (fixture from tests/worker/engine/ltx2/reference/vae_tiling_reference.py).
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <filesystem>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/app/placed_video_decoder.hpp"
#include "worker/engine/io/checkpoint.hpp"

using namespace ff;
using namespace ff::engine;
using ff::test::error_of;
using ff::test::rel_err;

namespace {

VaeTiling tiling_of(const std::string& value) {
  return parse_engine_config(R"({"output_root": "/o", "vae_tiling": )" + value + "}", "t.json").vae_tiling;
}

std::string error_for(const std::string& value) {
  return error_of([&] { tiling_of(value); });
}

size_t tile_count(const VaeTiling& t, int64_t frames, int64_t height, int64_t width) {
  const ltx2::VideoScale s;
  const auto cfg = t.for_video(height, width);
  REQUIRE(cfg.has_value());
  return ltx2::make_video_tiles((frames - 1) / s.time + 1, height / s.height, width / s.width, *cfg, s).size();
}

io::Checkpoint reference_fixture() {
  const std::string ref = FF_LTX2_FIXTURES "/vae_tiling.safetensors";
  REQUIRE_MESSAGE(std::filesystem::exists(ref),
                  "missing fixture " << ref << ": run tests/worker/engine/ltx2/reference/vae_tiling_reference.py --out tests/worker/engine/ltx2/fixtures");
  return io::Checkpoint::open(ref);
}

PlanLimits quiet_tiling_limits() {
  PlanLimits l;
  l.log_plans = false;
  return l;
}

}  // namespace

TEST_CASE("vae_tiling: object, booleans and defaults") {
  const VaeTiling d = parse_engine_config(R"({"output_root": "/o"})", "t.json").vae_tiling;
  CHECK(d.enabled);
  CHECK(static_cast<bool>(d));
  CHECK(d.long_side_tile_px == 768);
  CHECK(d.spatial_overlap_px == 64);
  CHECK(d.temporal_tile_frames == 80);
  CHECK(d.temporal_overlap_frames == 24);
  CHECK(tiling_of("true").enabled);
  CHECK(tiling_of("true").long_side_tile_px == 768);
  CHECK_FALSE(tiling_of("false").enabled);
  CHECK_FALSE(tiling_of("false").for_video(1024, 1536).has_value());
  const VaeTiling t = tiling_of(R"({"long_side_tile_px": 512, "spatial_overlap_px": 96, "temporal_tile_frames": 64,
                                    "temporal_overlap_frames": 16})");
  CHECK(t.enabled);
  CHECK(t.long_side_tile_px == 512);
  CHECK(t.spatial_overlap_px == 96);
  CHECK(t.temporal_tile_frames == 64);
  CHECK(t.temporal_overlap_frames == 16);
  const VaeTiling partial = tiling_of(R"({"temporal_tile_frames": 48})");
  CHECK(partial.long_side_tile_px == 768);
  CHECK(partial.temporal_tile_frames == 48);
  CHECK(partial.temporal_overlap_frames == 24);
  const VaeTiling no_time = tiling_of(R"({"temporal_tile_frames": 0, "temporal_overlap_frames": 0})");
  CHECK_FALSE(no_time.for_video(512, 768)->frames.tiled());
  const VaeTiling no_space = tiling_of(R"({"long_side_tile_px": 0, "spatial_overlap_px": 0})");
  CHECK_FALSE(no_space.for_video(512, 768)->width.tiled());
  CHECK_FALSE(no_space.for_video(512, 768)->height.tiled());
  CHECK(no_space.for_video(512, 768)->frames.tile_size == 80);
}

TEST_CASE("vae_tiling: invalid sizes are refused naming the file and the key") {
  auto has = [](const std::string& err, const std::string& what) {
    CAPTURE(err);
    CHECK(err.find("t.json") != std::string::npos);
    CHECK(err.find(what) != std::string::npos);
  };
  has(error_for(R"({"tile_px": 512})"), "vae_tiling.tile_px: unknown key");
  has(error_for(R"("yes")"), "vae_tiling: must be true, false or an object");
  has(error_for("512"), "vae_tiling: must be true, false or an object");
  has(error_for(R"({"long_side_tile_px": 500})"), "vae_tiling.long_side_tile_px: must be a multiple of 32");
  has(error_for(R"({"long_side_tile_px": 32, "spatial_overlap_px": 0})"), "vae_tiling.long_side_tile_px: must be at least 64");
  has(error_for(R"({"spatial_overlap_px": 48})"), "vae_tiling.spatial_overlap_px: must be a multiple of 32");
  has(error_for(R"({"long_side_tile_px": 256, "spatial_overlap_px": 256})"), "vae_tiling.spatial_overlap_px: must be below 'long_side_tile_px' (256), got 256");
  has(error_for(R"({"long_side_tile_px": -64})"), "vae_tiling.long_side_tile_px: must be >= 0");
  has(error_for(R"({"long_side_tile_px": 0})"), "vae_tiling.spatial_overlap_px: must be 0");
  has(error_for(R"({"temporal_tile_frames": 60})"), "vae_tiling.temporal_tile_frames: must be a multiple of 8");
  has(error_for(R"({"temporal_tile_frames": 8, "temporal_overlap_frames": 0})"), "vae_tiling.temporal_tile_frames: must be at least 16");
  has(error_for(R"({"temporal_overlap_frames": 20})"), "vae_tiling.temporal_overlap_frames: must be a multiple of 8");
  has(error_for(R"({"temporal_tile_frames": 24, "temporal_overlap_frames": 24})"), "vae_tiling.temporal_overlap_frames: must be below 'temporal_tile_frames' (24), got 24");
  has(error_for(R"({"temporal_tile_frames": "80"})"), "vae_tiling.temporal_tile_frames: expected integer, got string");
}

TEST_CASE("vae_tiling: the defaults are the pipeline's layout, other sizes give ltx-core's split counts") {
  const VaeTiling d;
  // ltx2::default_video_tiling is checked against ltx-core's from_long_side in tests/worker/engine/ltx2.
  for (auto [h, w] : {std::pair<int64_t, int64_t>{1024, 1536}, {512, 768}, {1536, 1024}, {704, 1280}, {96, 96}}) {
    CAPTURE(h);
    CAPTURE(w);
    const auto got = d.for_video(h, w);
    const auto want = ltx2::default_video_tiling(h, w);
    REQUIRE(got.has_value());
    CHECK(got->frames == want.frames);
    CHECK(got->height == want.height);
    CHECK(got->width == want.width);
  }
  // 121 frames at 1024 x 1536: latent 16 x 32 x 48; width tiles 24/2 cells -> 3, height
  // round(24 * 32 / 48) = 16/2 -> 3, frames 10/3 (causal) -> 2: the issue's 18 tiles.
  CHECK(tile_count(d, 121, 1024, 1536) == 18);
  // 512/64 px, 64/24 frames: width 16/2 -> 4, height round(16 * 32 / 48) = 11/2 -> 4, frames 8/3 -> 3.
  const VaeTiling small = tiling_of(R"({"long_side_tile_px": 512, "temporal_tile_frames": 64})");
  CHECK(small.for_video(1024, 1536)->height.tile_size == 352);
  CHECK(tile_count(small, 121, 1024, 1536) == 48);
  // Untiled in time: one temporal group.
  CHECK(tile_count(tiling_of(R"({"temporal_tile_frames": 0, "temporal_overlap_frames": 0})"), 121, 1024, 1536) == 9);
}

TEST_CASE("vae_tiling: the configured tiles drive the video decoder's tiled decode") {
  const std::string path = FF_LTX2_FIXTURES "/video_decoder.safetensors";
  REQUIRE_MESSAGE(std::filesystem::exists(path), "missing fixture " << path);
  const auto ck = io::Checkpoint::open(path);
  const ltx2::VideoDecoderConfig cfg = ltx2::video_decoder_config_from_checkpoint(ck);
  const ltx2::VideoScale sc = cfg.scale();  // {4, 8, 8}: the fixture's tiny decoder
  const at::Tensor latent = ck.view("latent").to(at::kFloat);
  const int64_t H = latent.size(3) * sc.height, W = latent.size(4) * sc.width;  // 32 x 48
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  PlacedVideoDecoder decoder(cfg, ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), rt::Placement::kStream,
                             *backend, quiet_tiling_limits());
  decoder.plan(0);
  const at::Tensor untiled = decoder.decode_to_uint8(latent, std::nullopt);

  VaeTiling t;
  t.long_side_tile_px = 24;  // 3 cells along the width, round(3 * 4 / 6) = 2 along the height
  t.spatial_overlap_px = 8;
  t.temporal_tile_frames = 8;
  t.temporal_overlap_frames = 4;
  const auto layout = t.for_video(H, W, sc);
  REQUIRE(layout.has_value());
  CHECK(layout->width == ltx2::TileAxis{24, 8});
  CHECK(layout->height == ltx2::TileAxis{16, 8});
  CHECK(layout->frames == ltx2::TileAxis{8, 4});
  const auto reference_layout = ltx2::video_tiling_from_long_side({24, 8}, H, W, sc, {8, 4});
  CHECK(ltx2::make_video_tiles(latent.size(2), latent.size(3), latent.size(4), *layout, sc).size() > 1);
  const at::Tensor tiled = decoder.decode_to_uint8(latent, layout);
  CHECK(at::equal(tiled, ltx2::decode_video_to_uint8(ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), cfg,
                                                     latent, reference_layout)));
  CHECK_FALSE(at::equal(tiled, untiled));  // tiles decode with other receptive fields, by design

  // Tiles larger than the clip: one tile, the untiled frames.
  VaeTiling huge;
  huge.long_side_tile_px = 800;
  huge.temporal_tile_frames = 400;
  CHECK(at::equal(decoder.decode_to_uint8(latent, huge.for_video(H, W, sc)), untiled));
  CHECK(ltx2::make_video_tiles(latent.size(2), latent.size(3), latent.size(4), *huge.for_video(H, W, sc), sc).size() == 1);

  // ltx-core's own decode of this layout (fixture from tests/worker/engine/ltx2/reference/vae_tiling_reference.py,
  // which runs from_long_side((24, 8), 32, 48, the decoder's factors, frames (8, 4)) on this fixture's
  // weights and latent).
  const auto r = reference_fixture();
  const json::Json layouts = json::parse(r.metadata().at("layouts"), "test");
  const json::Json& ref_layout = layouts["long_side_24_8_frames_8_4"]["layout"];
  CHECK(ref_layout["frames"][0].get<int64_t>() == layout->frames.tile_size);
  CHECK(ref_layout["height"][0].get<int64_t>() == layout->height.tile_size);
  CHECK(ref_layout["width"][0].get<int64_t>() == layout->width.tile_size);
  CHECK(ref_layout["width"][1].get<int64_t>() == layout->width.overlap);
  const at::Tensor frames =
      ltx2::decode_video_latent(ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), cfg, latent, layout);
  const at::Tensor want = r.view("frames_f32_long_side_24_8_frames_8_4").to(at::kFloat);
  const double e = rel_err(frames, want);
  MESSAGE("configured tiling vs ltx-core's from_long_side decode: fp32 rel err " << e);
  CHECK(e <= 1e-4);
  CHECK(rel_err(ltx2::decode_video_latent(ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), cfg, latent,
                                          std::nullopt),
                want) > 1e-2);  // the comparison could not pass untiled
}

TEST_CASE("vae_tiling: tile counts at real size equal ltx-core's splitters for other sizes") {
  const auto r = reference_fixture();
  const json::Json cases = json::parse(r.metadata().at("split_counts"), "test");
  REQUIRE(cases.size() == 4);
  for (const auto& c : cases) {
    VaeTiling t;
    t.long_side_tile_px = c["long_side"][0].get<int64_t>();
    t.spatial_overlap_px = c["long_side"][1].get<int64_t>();
    t.temporal_tile_frames = c["frames"][0].get<int64_t>();
    t.temporal_overlap_frames = c["frames"][1].get<int64_t>();
    const int64_t f = c["video"][0].get<int64_t>(), h = c["video"][1].get<int64_t>(), w = c["video"][2].get<int64_t>();
    CAPTURE(t.long_side_tile_px);
    CAPTURE(t.temporal_tile_frames);
    CHECK(tile_count(t, f, h, w) == static_cast<size_t>(c["tiles"].get<int64_t>()));
  }
}
