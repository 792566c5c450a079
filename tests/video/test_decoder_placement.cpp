// Unit tests of the vae_decoder's placements on random weights (CPU backend, float32,
// deterministic): the level field list, a streamed decode with no, a partial and a full resident
// prefix, and PlacedDecoder under stream and auto (a partial planned prefix under a tight budget,
// refusal when even streaming does not fit) give frames bitwise equal to the resident decode, and
// the stats count what was streamed.
#include "tests/video/torch_doctest.hpp"

#include <algorithm>
#include <set>

#include "tests/video/tiny_model.hpp"
#include "worker/engine/app/placed_decoder.hpp"
#include "worker/engine/app/video_presets.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/video/decoder_level_fields.hpp"
#include "worker/engine/video/decoder_working_set.hpp"
#include "worker/engine/video/streamed_decode.hpp"

using namespace ff;
namespace rt = ff::engine::rt;

namespace {

// The tiny preset's decoder (what `make-weights --preset tiny` writes).
video::DecoderConfig tiny_preset_decoder() { return engine::video_preset("tiny", 12).decoder; }

// Six equal levels (no upsampling): enough blocks for a planned resident prefix between none and
// all (with up to three levels, or a largest last level, a 3-slot ring costs as much as keeping
// them all, so the planner never picks a partial prefix).
video::DecoderConfig six_levels() {
  video::DecoderConfig d;
  d.latent_channels = 4;
  d.block_out_channels = {8, 8, 8, 8, 8, 8};
  d.temporal_upsample = {1, 1, 1, 1, 1, 1};
  d.spatial_upsample = {1, 1, 1, 1, 1, 1};
  return d;
}

// Bytes of the levels' tensors (unpacked).
int64_t level_tensor_bytes(const video::DecoderWeights& w) {
  int64_t n = 0;
  for (const auto& l : w.levels)
    for (const auto& [name, t] : video::decoder_level_tensors(l).items()) n += static_cast<int64_t>(t.nbytes());
  return n;
}

engine::VideoModels decoder_models(const video::DecoderConfig& d, uint64_t seed) {
  engine::VideoModels m;
  m.decoder_config = d;
  m.decoder = test::tiny_decoder(seed, d);
  m.decoder_bytes = video::slot_bytes(video::decoder_slots(m.decoder, d));
  return m;
}

at::Tensor latent(const video::DecoderConfig& d, uint64_t seed) {
  at::Generator g = at::detail::createCPUGenerator(seed);
  return at::randn({1, d.latent_channels, 3, 4, 6}, g, at::TensorOptions().dtype(at::kFloat));
}

int64_t sum_block_bytes(const rt::BlockStore& s, int from) {
  int64_t n = 0;
  for (int i = from; i < s.size(); ++i) n += s.block_bytes(i);
  return n;
}

engine::StagePlacementOptions decoder_options(rt::Placement mode) {
  engine::StagePlacementOptions o;
  o.decoder = mode;
  o.log_plans = false;
  return o;
}

}  // namespace

TEST_CASE("decoder level fields: every checkpoint tensor of a level is a named field; the round trip shares storage") {
  const auto d = tiny_preset_decoder();
  auto w = test::tiny_decoder(1, d);
  std::set<std::string> fields;
  for (const auto& [name, t] : video::decoder_level_fields(w.levels[1])) fields.insert(name);
  const std::string prefix = "decoder.up_blocks.1.";
  int in_level = 0;
  for (const auto& s : video::decoder_slots(w, d))
    if (s.name.rfind(prefix, 0) == 0) {
      ++in_level;
      CHECK_MESSAGE(fields.count(s.name.substr(prefix.size())) == 1, s.name);
    }
  CHECK(in_level == 6);
  CHECK(fields.size() == 6);
  const auto b = video::decoder_level_tensors(w.levels[1]);
  CHECK(b.size() == 6);
  CHECK(b.get("upsample.conv.weight").data_ptr() == w.levels[1].upsample.weight.data_ptr());
  const auto back = video::decoder_level_from(b);
  CHECK(back.res_conv2.bias.data_ptr() == w.levels[1].res_conv2.bias.data_ptr());
  CHECK(back.res_conv1.weight.sizes() == w.levels[1].res_conv1.weight.sizes());
}

TEST_CASE("streamed decode: tiny preset decoder, bitwise equal to resident with no, a partial and a full resident prefix") {
  const auto d = tiny_preset_decoder();
  REQUIRE(d.block_out_channels.size() == 2);
  const auto w = test::tiny_decoder(4, d);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  auto store = video::make_decoder_level_store("vae_decoder", *backend, w.levels);
  REQUIRE(store->size() == 2);
  const auto x = latent(d, 5);
  const auto want = video::decode_latent(w, d, x);
  REQUIRE(want.size(0) == 1 + d.temporal_scale() * 2);

  video::DecoderWeights globals = w;
  globals.levels.clear();  // the streamed decode must not read the resident levels
  std::vector<rt::PassTimings> passes;
  for (int prefix : {0, 1, 2}) {
    CAPTURE(prefix);
    store->set_resident_prefix(prefix);
    passes.clear();
    const auto got = video::streamed_decode_latent(globals, d, *store, x, 3,
                                                   [&](const rt::PassTimings& t) { passes.push_back(t); });
    CHECK(at::equal(got, want));
    REQUIRE(passes.size() == 1);
    CHECK(passes[0].copied_bytes == sum_block_bytes(*store, prefix));
  }
  // Another latent changes the frames: the comparison above is not vacuous.
  CHECK_FALSE(at::equal(video::streamed_decode_latent(globals, d, *store, latent(d, 6), 3, {}), want));
  // A store of another decoder is refused by name.
  video::DecoderConfig three = d;
  three.block_out_channels.push_back(8);
  three.temporal_upsample.push_back(1);
  three.spatial_upsample.push_back(1);
  CHECK_THROWS_WITH_AS(video::streamed_decode_latent(globals, three, *store, x, 3, {}),
                       doctest::Contains("vae_decoder: block store holds 2 levels"), std::invalid_argument);
  store->set_resident_prefix(0);
  CHECK(backend->meter().snapshot().allocated_bytes == 0);  // ring and prefix given back
}

TEST_CASE("placed decoder: stream keeps only the fixed weights on the device and counts streamed bytes") {
  const auto d = tiny_preset_decoder();
  auto models = decoder_models(d, 7);
  const auto reference = decoder_models(d, 7);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::PlacedDecoder dec(models, *backend, decoder_options(rt::Placement::kStream));
  CHECK(models.decoder.levels.empty());
  REQUIRE(dec.store() != nullptr);
  const int64_t levels = sum_block_bytes(*dec.store(), 0);
  CHECK(dec.device_weight_bytes() == models.decoder_bytes - level_tensor_bytes(reference.decoder));  // fixed only
  CHECK(backend->meter().snapshot().allocated_bytes == dec.device_weight_bytes());
  CHECK(dec.stats().placement == "stream");

  const auto x = latent(d, 8);
  CHECK(at::equal(dec.decode(x), video::decode_latent(reference.decoder, d, x)));
  dec.decode(x);
  const auto& s = dec.stats();
  CHECK(s.placement == "stream");
  CHECK(s.resident_blocks == 0);
  CHECK(s.total_blocks == 2);
  CHECK(s.streamed_bytes_total == 2 * levels);
  CHECK(dec.last_plan().fits);
  CHECK(backend->meter().snapshot().allocated_bytes == dec.device_weight_bytes());  // working set given back
}

TEST_CASE("placed decoder: resident is charged whole and streams nothing") {
  const auto d = tiny_preset_decoder();
  auto models = decoder_models(d, 7);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::PlacedDecoder dec(models, *backend, decoder_options(rt::Placement::kResident));
  CHECK(models.decoder.levels.size() == 2);
  CHECK(dec.store() == nullptr);
  CHECK(dec.device_weight_bytes() == models.decoder_bytes);
  CHECK(backend->meter().snapshot().allocated_bytes == models.decoder_bytes);
  const auto x = latent(d, 8);
  CHECK(at::equal(dec.decode(x), video::decode_latent(models.decoder, d, x)));
  CHECK(dec.stats().placement == "resident");
  CHECK(dec.stats().resident_blocks == 2);
  CHECK(dec.stats().streamed_bytes_total == 0);
}

TEST_CASE("placed decoder: auto is resident when it fits, keeps a partial prefix under a tight budget, else refuses") {
  const auto d = six_levels();
  auto models = decoder_models(d, 9);
  const auto reference = decoder_models(d, 9);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  engine::PlacedDecoder dec(models, *backend, decoder_options(rt::Placement::kAuto));
  CHECK(dec.stats().placement == "auto:0/6");
  const auto x = latent(d, 10);
  const auto want = video::decode_latent(reference.decoder, d, x);

  // Everything fits: fully resident, nothing streamed.
  CHECK(at::equal(dec.decode(x), want));
  CHECK(dec.last_plan().resident_blocks == 6);
  CHECK(dec.stats().placement == "auto:6/6");
  CHECK(dec.stats().streamed_bytes_total == 0);
  CHECK(dec.store()->resident_prefix() == 6);

  // Raise the cap (the budget) from tight to loose until the plan keeps some but not all levels.
  const int64_t block = dec.store()->block_bytes(0);
  const int64_t base = dec.device_weight_bytes() - dec.store()->resident_bytes();
  const int64_t working = video::decoder_working_bytes(d, 3, 4, 6, 4);
  int prefix = -1;
  bool refused = false;
  for (int64_t cap = base; cap < base + working + 8 * block && prefix < 0; cap += block / 4) {
    backend->cap_allocations(cap);
    try {
      const int64_t before = dec.stats().streamed_bytes_total;
      const auto got = dec.decode(x);
      const auto& plan = dec.last_plan();
      if (plan.resident_blocks > 0 && plan.resident_blocks < 6) {
        prefix = plan.resident_blocks;
        CHECK(dec.store()->resident_prefix() == prefix);
        CHECK(at::equal(got, want));
        const auto& s = dec.stats();
        CHECK(s.placement == "auto:" + std::to_string(prefix) + "/6");
        CHECK(s.resident_blocks == prefix);
        CHECK(s.streamed_bytes_total - before == sum_block_bytes(*dec.store(), prefix));
      }
    } catch (const engine::encode::VramBudgetError& e) {
      refused = true;  // too tight even streamed: refused with the plan
      CHECK(std::string(e.what()).find("vae_decoder does not fit the VRAM budget") != std::string::npos);
    }
  }
  CHECK(refused);
  REQUIRE(prefix > 0);
}

TEST_CASE("placed decoder: min_extra_bytes is the ring and working set of a streamed decode, 0 when resident") {
  const auto d = tiny_preset_decoder();
  const int64_t working = video::decoder_working_bytes(d, 3, 4, 6, 4);
  REQUIRE(working > 0);
  auto backend = rt::make_backend("cpu", int64_t(1) << 30);
  auto stream_models = decoder_models(d, 7);
  engine::PlacedDecoder streamed(stream_models, *backend, decoder_options(rt::Placement::kStream));
  const int64_t largest = std::max(streamed.store()->block_bytes(0), streamed.store()->block_bytes(1));
  CHECK(streamed.min_extra_bytes(3, 4, 6) == 2 * largest + working);  // two levels: two slots

  auto auto_models = decoder_models(d, 7);
  engine::PlacedDecoder automatic(auto_models, *backend, decoder_options(rt::Placement::kAuto));
  // auto may keep both levels instead of a ring (cheaper here: min(all levels, ring)).
  CHECK(automatic.min_extra_bytes(3, 4, 6) == sum_block_bytes(*automatic.store(), 0) + working);
  automatic.decode(latent(d, 8));  // fully resident from now on
  REQUIRE(automatic.store()->resident_prefix() == 2);
  CHECK(automatic.min_extra_bytes(3, 4, 6) == working);

  auto resident_models = decoder_models(d, 7);
  engine::PlacedDecoder resident(resident_models, *backend, decoder_options(rt::Placement::kResident));
  CHECK(resident.min_extra_bytes(3, 4, 6) == 0);
}
