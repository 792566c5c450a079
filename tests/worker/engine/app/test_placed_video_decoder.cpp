// PlacedVideoDecoder (worker/engine/app/placed_video_decoder.hpp) on the tiny decoder of the
// video_decoder fixture, CPU backend: stream and auto placements give the resident frames bit for
// bit, untiled and tiled, and a streamed decode copies its blocks.
#include "tests/worker/engine/doctest_torch.hpp"

#include "worker/engine/app/placed_video_decoder.hpp"
#include "worker/engine/io/checkpoint.hpp"

using namespace ff;
using namespace ff::engine;

namespace {

const std::string kPlacedDecoderFixture = FF_LTX2_FIXTURES "/video_decoder.safetensors";

PlanLimits quiet_decoder_limits() {
  PlanLimits l;
  l.log_plans = false;
  return l;
}

}  // namespace

TEST_CASE("a streamed or auto video decoder gives the resident decoder's frames bit for bit") {
  const auto ck = io::Checkpoint::open(kPlacedDecoderFixture);
  const ltx2::VideoDecoderConfig cfg = ltx2::video_decoder_config_from_checkpoint(ck);
  const at::Tensor latent = ck.view("latent").to(at::kFloat);
  auto backend = rt::make_backend("cpu", int64_t(1) << 32);
  // Tiles smaller than the latent in every axis, with overlaps (the fixture's own latent is small).
  const ltx2::VideoScale sc = cfg.scale();
  const ltx2::VideoTilingConfig tiles{{2 * sc.time * 2, sc.time}, {2 * sc.height, sc.height}, {2 * sc.width, sc.width}};
  auto decoder = [&](rt::Placement mode) {
    return PlacedVideoDecoder(cfg, ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), mode, *backend, quiet_decoder_limits());
  };
  PlacedVideoDecoder resident = decoder(rt::Placement::kResident);
  resident.plan(0);
  const at::Tensor want = resident.decode_to_uint8(latent, std::nullopt);
  const at::Tensor want_tiled = resident.decode_to_uint8(latent, tiles);
  CHECK((want.scalar_type() == at::kByte));
  CHECK(want.dim() == 4);
  CHECK(want.size(3) == 3);
  // The same decoder as the ltx2 path computes it (decode_video_to_uint8 over resident weights).
  CHECK(at::equal(want, ltx2::decode_video_to_uint8(ltx2::load_video_decoder(ck, cfg, at::kCPU, at::kFloat), cfg,
                                                     latent, std::nullopt)));
  for (auto mode : {rt::Placement::kStream, rt::Placement::kAuto}) {
    PlacedVideoDecoder placed = decoder(mode);
    placed.plan(0);
    CHECK(at::equal(placed.decode_to_uint8(latent, std::nullopt), want));
    CHECK(at::equal(placed.decode_to_uint8(latent, tiles), want_tiled));
    const auto s = placed.stats();
    CHECK(s.total_blocks == static_cast<int32_t>(cfg.blocks.size()));
    if (mode == rt::Placement::kStream) {
      CHECK(s.resident_blocks == 0);
      CHECK(s.streamed_bytes_total > 0);
    }
  }
}
