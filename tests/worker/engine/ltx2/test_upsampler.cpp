// LTX-2 spatial latent upsampler x2 vs ltx-core (fixture from
// tests/worker/engine/ltx2/reference/upsampler_reference.py): both key variants of the x2 conv, the bare network
// in fp32, upsample_video (un-normalize, upsample, normalize) in fp32 and bf16; the loader on a
// file laid out like the published one; config refusals and loader errors.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/checkpoint_error.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/ltx2/upsampler.hpp"

using ff::test::rel_err;
using ff::test::error_of;

namespace {

using namespace ff::ltx2;
namespace io = ff::io;

const std::string kUpsamplerFixture = std::string(FF_LTX2_FIXTURES) + "/upsampler.safetensors";
constexpr const char* kMean = "vae.per_channel_statistics.mean-of-means";
constexpr const char* kStd = "vae.per_channel_statistics.std-of-means";

std::shared_ptr<const io::SafetensorsFile> open_upsampler_fixture() {
  REQUIRE_MESSAGE(std::filesystem::exists(kUpsamplerFixture),
                  "missing fixture " << kUpsamplerFixture
                                     << ": run tests/worker/engine/ltx2/reference/upsampler_reference.py --out tests/worker/engine/ltx2/fixtures");
  return io::SafetensorsFile::open(kUpsamplerFixture);
}

UpsamplerConfig variant_config(const io::SafetensorsFile& f, const std::string& tag) {
  return upsampler_config_from_json(ff::json::parse(f.metadata().at("config_" + tag), "test"), kUpsamplerFixture + " config_" + tag);
}

Upsampler variant(const io::SafetensorsFile& f, const std::string& tag, at::ScalarType dtype) {
  Upsampler u;
  u.config = variant_config(f, tag);
  u.weights = load_upsampler_weights(f, u.config, at::kCPU, dtype, tag + ".");
  return u;
}

ff::json::Json published_config() {
  return ff::json::parse(
      R"({"_class_name": "LatentUpsampler", "in_channels": 128, "mid_channels": 1024, "num_blocks_per_stage": 4,
          "dims": 3, "spatial_upsample": true, "temporal_upsample": false, "spatial_scale": 2.0,
          "rational_resampler": false})", "test");
}

}  // namespace

TEST_CASE("upsampler: both key variants match ltx-core in fp32 and bf16") {
  auto f = open_upsampler_fixture();
  const at::Tensor latent = f->copy("latent");
  const at::Tensor mean = f->copy(kMean), std = f->copy(kStd);
  for (const std::string tag : {"a", "b"}) {
    CAPTURE(tag);
    const Upsampler u32 = variant(*f, tag, at::kFloat);
    CHECK(u32.config.rational_resampler == (tag == "b"));
    CHECK(u32.weights.blur_kernel.defined() == (tag == "b"));

    const at::Tensor fwd = upsampler_forward(latent, u32);
    CHECK((fwd.sizes() == f->copy(tag + ".forward_f32").sizes()));
    const double e_fwd = rel_err(fwd, f->copy(tag + ".forward_f32"));
    MESSAGE(tag << " forward fp32 rel err " << e_fwd);
    CHECK(e_fwd <= 1e-4);

    const at::Tensor want32 = f->copy(tag + ".upsampled_f32");
    const at::Tensor up32 = upsample_video_latent(latent, u32, mean, std);
    CHECK((up32.scalar_type() == at::kFloat));
    const double e32 = rel_err(up32, want32);
    MESSAGE(tag << " upsample_video fp32 rel err " << e32);
    CHECK(e32 <= 1e-4);

    const Upsampler u16 = variant(*f, tag, at::kBFloat16);
    const at::Tensor up16 = upsample_video_latent(latent.to(at::kBFloat16), u16, mean, std);
    CHECK((up16.scalar_type() == at::kBFloat16));
    const double e16 = rel_err(up16, want32);
    const double e16_ref = rel_err(up16, f->copy(tag + ".upsampled_bf16"));
    MESSAGE(tag << " upsample_video bf16 rel err vs fp32 ref " << e16 << ", vs bf16 ref " << e16_ref);
    CHECK(e16 <= 2e-2);
    CHECK(e16_ref <= 2e-2);

    // The statistics matter: without them the result is a different function.
    const at::Tensor plain = upsampler_forward(latent, u32);
    CHECK(rel_err(plain, want32) > 0.05);
  }
}

TEST_CASE("upsampler: a file laid out like the published one loads by its own config") {
  auto f = open_upsampler_fixture();
  ff::test::TempDir dir;
  for (const std::string tag : {"a", "b"}) {
    CAPTURE(tag);
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& t : f->tensors())
      if (t.name.rfind(tag + ".", 0) == 0 && t.name.find("forward_") == std::string::npos &&
          t.name.find("upsampled_") == std::string::npos)
        tensors.emplace_back(t.name.substr(tag.size() + 1), f->copy(t.name));
    const std::string path = dir.file("up_" + tag + ".safetensors");
    io::write_safetensors(path, tensors, {{"config", f->metadata().at("config_" + tag)}});
    const Upsampler u = load_upsampler(path, at::kCPU, at::kFloat);
    CHECK(u.config.mid_channels == variant_config(*f, tag).mid_channels);
    const at::Tensor latent = f->copy("latent");
    CHECK(rel_err(upsample_video_latent(latent, u, f->copy(kMean), f->copy(kStd)), f->copy(tag + ".upsampled_f32")) <= 1e-4);

    // The other variant's config against this file: a missing tensor, named.
    ff::json::Json other = ff::json::parse(f->metadata().at("config_" + tag), "test");
    other["rational_resampler"] = tag == "a";
    const std::string wrong = dir.file("wrong_" + tag + ".safetensors");
    io::write_safetensors(wrong, tensors, {{"config", (other).dump()}});
    const std::string err = error_of([&] { load_upsampler(wrong, at::kCPU, at::kFloat); });
    CHECK(err.find(wrong) != std::string::npos);
    CHECK(err.find(tag == "a" ? "upsampler.conv.weight" : "upsampler.0.weight") != std::string::npos);
  }
}

TEST_CASE("upsampler: slot names and shapes of the published x2 file") {
  const UpsamplerConfig c = upsampler_config_from_json(published_config(), "published");
  CHECK(c.in_channels == 128);
  CHECK(c.mid_channels == 1024);
  CHECK(c.num_blocks_per_stage == 4);
  UpsamplerWeights w;
  const auto slots = upsampler_slots(w, c);
  // initial conv+norm 4, 8 res blocks x 8, x2 conv 2, final conv 2.
  CHECK(slots.size() == 4 + 8 * 8 + 2 + 2);
  int64_t elements = 0;
  for (const auto& s : slots) {
    int64_t n = 1;
    for (auto d : s.shape) n *= d;
    elements += n;
  }
  MESSAGE("published upsampler elements " << elements);
  // The published file (995,743,560 B) holds bf16 tensors plus a small header: 497.8 M elements.
  CHECK(elements * 2 < 995743560);
  CHECK(elements * 2 > 995743560 - 200000);
  CHECK(slots.front().name == "initial_conv.weight");
  CHECK(slots[4].name == "res_blocks.0.conv1.weight");
  const auto up = std::find_if(slots.begin(), slots.end(), [](const auto& s) { return s.name == "upsampler.0.weight"; });
  REQUIRE(up != slots.end());
  CHECK((up->shape == std::vector<int64_t>{4096, 1024, 3, 3}));
  CHECK(slots.back().name == "final_conv.bias");
}

TEST_CASE("upsampler: configs this port does not implement are refused, naming the key") {
  auto refused = [](const char* key, ff::json::Json v) {
    ff::json::Json cfg = published_config();
    cfg[key] = std::move(v);
    const std::string err = error_of([&] { upsampler_config_from_json(cfg, "up.safetensors config"); });
    CAPTURE(err);
    CHECK(err.find("up.safetensors config") != std::string::npos);
    CHECK(err.find(key) != std::string::npos);
  };
  refused("dims", 2);
  refused("temporal_upsample", true);
  refused("spatial_upsample", false);
  refused("spatial_scale", 1.5);
  refused("spatial_scale", 4.0);
  refused("mid_channels", 48);
  refused("in_channels", 0);
  refused("_class_name", "TemporalUpsampler");
  refused("rational_resampler", "yes");
  refused("extra_key", 1);
  // ltx-core's defaults when keys are absent; bookkeeping keys pass.
  const UpsamplerConfig d = upsampler_config_from_json(ff::json::parse(R"({"_diffusers_version": "0.1"})", "test"), "d");
  CHECK(d.in_channels == 128);
  CHECK(d.mid_channels == 512);
  CHECK(d.num_blocks_per_stage == 4);
  CHECK(!d.rational_resampler);
  // The config round-trips.
  const UpsamplerConfig c = upsampler_config_from_json(published_config(), "p");
  const UpsamplerConfig r = upsampler_config_from_json(ff::json::Json(upsampler_config_to_json(c)), "r");
  CHECK(r.mid_channels == c.mid_channels);
  CHECK(r.rational_resampler == c.rational_resampler);
}

TEST_CASE("upsampler: bad inputs") {
  UpsamplerConfig c;
  c.in_channels = 8;
  c.mid_channels = 32;
  c.num_blocks_per_stage = 1;
  Upsampler u{c, {}};
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (auto& s : upsampler_slots(u.weights, c)) *s.target = ff::layers::random_tensor(s, gen);
  CHECK((upsampler_forward(at::randn({1, 8, 2, 3, 5}), u).sizes() == at::IntArrayRef({1, 8, 2, 6, 10})));
  CHECK(!error_of([&] { upsampler_forward(at::randn({1, 4, 2, 3, 5}), u); }).empty());
  CHECK(!error_of([&] { upsampler_forward(at::randn({1, 8, 2, 3, 5}, at::kBFloat16), u); }).empty());
  CHECK(!error_of([&] { upsample_video_latent(at::randn({1, 8, 2, 3, 5}), u, at::zeros({4}), at::ones({4})); }).empty());
}
