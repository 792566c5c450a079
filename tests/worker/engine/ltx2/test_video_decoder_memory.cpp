// The video decoder's memory-lean forward (worker/engine/ltx2/video_decoder_workspace.*), on the
// weights of the video_decoder fixture (CPU, float32 and bfloat16): the result does not depend on
// the temporal chunking (one frame per chunk vs the whole tensor) nor on the activation layout, a
// block given a shared input leaves it unchanged, and decode_video_to_uint8's in-place mapping
// gives frames_to_uint8(decode_video_latent(...)) exactly.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <filesystem>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/io/checkpoint.hpp"
#include "worker/engine/ltx2/video_decoder.hpp"
#include "worker/engine/ltx2/video_decoder_weights.hpp"

using ff::test::rel_err;

namespace {

using namespace ff::ltx2;
namespace io = ff::io;

const std::string kDecoderMemoryFixture = std::string(FF_LTX2_FIXTURES) + "/video_decoder.safetensors";

io::Checkpoint open_decoder_fixture() {
  REQUIRE_MESSAGE(std::filesystem::exists(kDecoderMemoryFixture),
                  "missing fixture " << kDecoderMemoryFixture
                                     << ": run tests/worker/engine/ltx2/reference/video_decoder_reference.py --out tests/worker/engine/ltx2/fixtures");
  return io::Checkpoint::open(kDecoderMemoryFixture);
}

}  // namespace

TEST_CASE("video decoder: chunking and layout do not change the forward") {
  const io::Checkpoint ck = open_decoder_fixture();
  const VideoDecoderConfig cfg = video_decoder_config_from_checkpoint(ck);
  for (const auto dtype : {at::kFloat, at::kBFloat16}) {
    const VideoDecoderWeights w = load_video_decoder(ck, cfg, at::kCPU, dtype);
    const at::Tensor latent = ck.view("latent").to(dtype);
    VideoDecoderMemory whole, per_frame, cl;
    whole.chunk_bytes = 0;
    per_frame.chunk_bytes = 1;  // one frame per chunk: every in-place boundary is exercised
    cl.channels_last = 1;
    cl.chunk_bytes = 1;
    const at::Tensor a = video_decoder_forward(w, cfg, latent, whole);
    const at::Tensor b = video_decoder_forward(w, cfg, latent, per_frame);
    const at::Tensor c = video_decoder_forward(w, cfg, latent, cl);
    const at::Tensor d = video_decoder_forward(w, cfg, latent);
    const double limit = dtype == at::kFloat ? 1e-5 : 1e-2;
    INFO("dtype " << c10::toString(dtype));
    CHECK(rel_err(b, a) <= limit);
    CHECK(rel_err(c, a) <= limit);
    CHECK(rel_err(d, a) <= limit);
    CHECK(a.size(2) == 1 + (latent.size(2) - 1) * cfg.scale().time);
  }
}

TEST_CASE("video decoder: a block leaves a shared input unchanged, reuses a handed-over one") {
  const io::Checkpoint ck = open_decoder_fixture();
  const VideoDecoderConfig cfg = video_decoder_config_from_checkpoint(ck);
  const VideoDecoderWeights w = load_video_decoder(ck, cfg, at::kCPU, at::kFloat);
  const at::Tensor x = video_decoder_input(w, cfg, ck.view("latent").to(at::kFloat));
  size_t res = 0;
  while (res < cfg.blocks.size() && (cfg.blocks[res].is_upsample() || cfg.blocks[res].num_layers == 0)) ++res;
  REQUIRE(res < cfg.blocks.size());
  at::Tensor in = x;
  for (size_t i = 0; i < res; ++i) in = video_decoder_block(w.blocks[i], cfg, i, in);
  const at::Tensor keep = in.clone();
  const at::Tensor shared_out = video_decoder_block(w.blocks[res], cfg, res, in);
  CHECK(at::equal(in, keep));
  at::Tensor moved = keep.clone();
  const void* storage = moved.data_ptr();
  const at::Tensor moved_out = video_decoder_block(w.blocks[res], cfg, res, std::move(moved));
  CHECK(moved_out.data_ptr() == storage);
  CHECK(at::equal(moved_out, shared_out));
}

TEST_CASE("video decoder: uint8 frames from the in-place mapping equal the out-of-place mapping") {
  const io::Checkpoint ck = open_decoder_fixture();
  const VideoDecoderConfig cfg = video_decoder_config_from_checkpoint(ck);
  const VideoDecoderWeights w = load_video_decoder(ck, cfg, at::kCPU, at::kBFloat16);
  const at::Tensor latent = ck.view("latent").to(at::kBFloat16);
  const ff::json::Json tilings = ff::json::parse(ck.metadata().at("tilings"), "test");
  const auto axis = [&](const char* t, const char* k) {
    return TileAxis{tilings[t][k][0].get<int64_t>(), tilings[t][k][1].get<int64_t>()};
  };
  for (const char* t : {"tiled_a", "tiled_b"}) {
    const VideoTilingConfig tiling{axis(t, "frames"), axis(t, "height"), axis(t, "width")};
    INFO(t);
    CHECK(at::equal(decode_video_to_uint8(w, cfg, latent, tiling),
                    frames_to_uint8(decode_video_latent(w, cfg, latent, tiling))));
  }
  CHECK(at::equal(decode_video_to_uint8(w, cfg, latent, std::nullopt),
                  frames_to_uint8(decode_video_latent(w, cfg, latent, std::nullopt))));
}
