// PlacedStages / PlacedModel (worker/engine/app/placed_stages.hpp, placed_decoders.hpp) on the
// tiny upsampler and audio fixtures (tests/worker/engine/ltx2/fixtures), CPU backend: for the spatial upsampler
// (both key variants), the audio decoder (fp32 and bf16) and the vocoder (fp32), stream and auto
// placements (auto under budgets that keep each prefix resident) give the resident result bit for
// bit, the resident result is ltx2's plain forward's (and still ltx-core's within 1e-4), the stage
// prefixes split every weight, the stats count blocks, pinned and streamed bytes, and a forward
// that skips a stage is refused.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <filesystem>
#include <functional>
#include <string>

#include "common/json_fields.hpp"
#include "worker/engine/app/placed_decoders.hpp"
#include "worker/engine/app/stage_working_sets.hpp"
#include "worker/engine/io/safetensors.hpp"

using namespace ff;
using namespace ff::engine;
using ff::test::rel_err;

namespace {

const std::string kUpsampler = FF_LTX2_FIXTURES "/upsampler.safetensors";
const std::string kAudio = FF_LTX2_FIXTURES "/audio.safetensors";

std::shared_ptr<const io::SafetensorsFile> open_fixture(const std::string& path) {
  REQUIRE_MESSAGE(std::filesystem::exists(path), "missing fixture " << path << " (run its script in tests/worker/engine/ltx2/reference)");
  return io::SafetensorsFile::open(path);
}

PlanLimits quiet_stage_limits(int64_t budget = 0) {
  PlanLimits l;
  l.log_plans = false;
  l.budget_bytes = budget;
  return l;
}

// The budgets to try for auto with `working` activation bytes: for each k in 0..n, what keeping
// the first k blocks resident and streaming the rest through the ring (up to 3 slots of the largest
// streamed block) needs, plus a little slack; and whether some 0 < k < n needs less than all n.
std::pair<std::vector<int64_t>, bool> auto_budgets(const PlacedBlocks& b, int64_t working) {
  const std::vector<int64_t>& bytes = b.block_bytes();
  constexpr int64_t kSlack = 4096;
  std::vector<int64_t> needs;
  int64_t prefix = 0;
  for (size_t k = 0; k <= bytes.size(); ++k) {
    int64_t largest_rest = 0;
    for (size_t i = k; i < bytes.size(); ++i) largest_rest = std::max(largest_rest, bytes[i]);
    const int64_t ring = std::min<int64_t>(3, static_cast<int64_t>(bytes.size() - k)) * largest_rest;
    needs.push_back(b.fixed_bytes() + working + prefix + ring);
    if (k < bytes.size()) prefix += bytes[k];
  }
  bool possible = false;
  for (size_t k = 1; k + 1 < needs.size(); ++k) possible = possible || needs[k] + kSlack < needs.back();
  std::vector<int64_t> budgets;
  for (int64_t n : needs) budgets.push_back(n + kSlack);
  return {budgets, possible};
}

// Builds `make(mode, limits, backend)` resident, stream and auto (at each budget of
// auto_budgets), runs `forward` once on each, and checks every result equals the resident one;
// returns the resident result. At least one auto budget must keep a strict prefix resident.
template <class Placed>
at::Tensor check_placements(const std::function<std::unique_ptr<Placed>(rt::Placement, PlanLimits, rt::DeviceBackend&)>& make,
                            const std::function<at::Tensor(Placed&)>& forward, int64_t working) {
  auto backend = rt::make_backend("cpu", int64_t(1) << 34);
  auto resident = make(rt::Placement::kResident, quiet_stage_limits(), *backend);
  resident->stages().plan(working, 0);
  const at::Tensor want = forward(*resident);
  const auto rs = resident->stages().stats();
  CHECK(rs.placement == "resident");
  CHECK(rs.resident_blocks == rs.total_blocks);
  CHECK(rs.resident_bytes > 0);
  CHECK(rs.streamed_bytes_total == 0);

  auto streamed = make(rt::Placement::kStream, quiet_stage_limits(), *backend);
  {
    streamed->stages().plan(working, 0);
    CHECK(at::equal(forward(*streamed), want));
    CHECK(at::equal(forward(*streamed), want));  // a second sweep over the same store
    const auto s = streamed->stages().stats();
    CHECK(s.placement == "stream");
    CHECK(s.total_blocks == rs.total_blocks);
    CHECK(s.resident_blocks == 0);
    CHECK(s.streamed_bytes_total > 0);  // (the CPU backend's host slab is not pinned: no pinned bytes)
  }

  // Budgets from the store's block sizes (256-B aligned, as plans count them).
  bool partial = false;
  const auto [budgets, possible] = auto_budgets(streamed->stages().blocks(), working);
  for (int64_t budget : budgets) {
    CAPTURE(budget);
    auto b = rt::make_backend("cpu", int64_t(1) << 34);
    auto placed = make(rt::Placement::kAuto, quiet_stage_limits(budget), *b);
    placed->stages().plan(working, 0);
    CHECK(at::equal(forward(*placed), want));
    const auto s = placed->stages().stats();
    CHECK(s.placement == "auto:" + std::to_string(s.resident_blocks) + "/" + std::to_string(s.total_blocks));
    MESSAGE("auto budget " << budget << ": " << s.placement);
    if (s.resident_blocks > 0 && s.resident_blocks < s.total_blocks) partial = true;
  }
  // A strict prefix is kept wherever its plan needs less than keeping everything (with a ring of up
  // to 3 slots of the largest streamed block, small components often need more streamed).
  CHECK(partial == possible);
  return want;
}

}  // namespace

TEST_CASE("spatial upsampler: every placement gives the resident result bit for bit, which is ltx-core's") {
  const auto f = open_fixture(kUpsampler);
  const at::Tensor latent = f->copy("latent");
  const at::Tensor mean = f->copy("vae.per_channel_statistics.mean-of-means");
  const at::Tensor std = f->copy("vae.per_channel_statistics.std-of-means");
  for (const std::string tag : {"a", "b"}) {
    CAPTURE(tag);
    const auto cfg = ltx2::upsampler_config_from_json(json::parse(f->metadata().at("config_" + tag), "test"), "config_" + tag);
    const layers::TensorFetch file = layers::file_fetch(*f, at::kCPU, at::kFloat);
    const layers::TensorFetch fetch = [&](const std::string& name, const std::vector<int64_t>& shape) {
      return file(tag + "." + name, shape);
    };
    auto make = [&](rt::Placement mode, PlanLimits limits, rt::DeviceBackend& be) {
      return make_placed_upsampler(cfg, fetch, mode, be, limits);
    };
    auto forward = [&](PlacedUpsampler& p) {
      return p.run([&](const ltx2::Upsampler& u, const ltx2::StageHooks& hooks) {
        return ltx2::upsample_video_latent(latent, u, mean, std, hooks);
      });
    };
    const int64_t working = upsampler_working_bytes(cfg, latent.size(2), latent.size(3), latent.size(4), 4, true);
    const at::Tensor got = check_placements<PlacedUpsampler>(make, forward, working);
    ltx2::Upsampler plain;
    plain.config = cfg;
    plain.weights = ltx2::load_upsampler_weights(*f, cfg, at::kCPU, at::kFloat, tag + ".");
    CHECK(at::equal(got, ltx2::upsample_video_latent(latent, plain, mean, std)));
    CHECK(rel_err(got, f->copy(tag + ".upsampled_f32")) <= 1e-4);
    CHECK(ltx2::upsampler_stage_prefixes(cfg).size() == static_cast<size_t>(2 * cfg.num_blocks_per_stage + 3));
  }
}

TEST_CASE("audio decoder: every placement gives the resident result bit for bit (fp32 and bf16)") {
  const auto f = open_fixture(kAudio);
  for (auto dtype : {at::kFloat, at::kBFloat16}) {
    MESSAGE("dtype " << (dtype == at::kFloat ? "fp32" : "bf16"));
    const at::Tensor latent = f->copy("input.latent").to(dtype);
    auto make = [&](rt::Placement mode, PlanLimits limits, rt::DeviceBackend& be) {
      return load_placed_audio_decoder(*f, dtype, mode, be, limits);
    };
    auto forward = [&](PlacedAudioDecoder& p) {
      return p.run([&](const ltx2::AudioDecoderModel& d, const ltx2::StageHooks& hooks) {
        return ltx2::decode_audio_latent(d, latent, hooks);
      });
    };
    const auto plain = ltx2::load_audio_decoder(*f, at::kCPU, dtype);
    const int64_t working = audio_decoder_working_bytes(plain.config, latent.size(2), latent.size(3),
                                                        static_cast<int64_t>(c10::elementSize(dtype)), true);
    const at::Tensor got = check_placements<PlacedAudioDecoder>(make, forward, working);
    CHECK(at::equal(got, ltx2::decode_audio_latent(plain, latent)));
    if (dtype == at::kFloat) CHECK(rel_err(got, f->copy("expected.mel_f32")) <= 1e-4);
    // The statistics are the fixed weights: on the device, counted, outside every stage.
    auto backend = rt::make_backend("cpu", int64_t(1) << 34);
    const auto placed = make(rt::Placement::kStream, quiet_stage_limits(), *backend);
    CHECK(placed->stages().blocks().fixed_bytes() == 2 * plain.config.ch * static_cast<int64_t>(c10::elementSize(dtype)));
    CHECK(placed->model().weights.std_of_means.defined());
    CHECK_FALSE(placed->model().weights.conv_in.weight.defined());  // a stage's weights only inside run()
  }
}

TEST_CASE("vocoder: every placement gives the resident result bit for bit, in fp32 as the reference") {
  const auto f = open_fixture(kAudio);
  const at::Tensor mel = f->copy("input.mel");
  auto make = [&](rt::Placement mode, PlanLimits limits, rt::DeviceBackend& be) {
    return load_placed_vocoder(*f, mode, be, limits);
  };
  auto forward = [&](PlacedVocoder& p) {
    return p.run([&](const ltx2::VocoderModel& v, const ltx2::StageHooks& hooks) { return ltx2::vocode(v, mel, hooks); });
  };
  const auto plain = ltx2::load_vocoder(*f, at::kCPU, at::kFloat);
  const at::Tensor got = check_placements<PlacedVocoder>(make, forward, vocoder_working_bytes(plain.config, mel.size(2), true));
  CHECK((got.scalar_type() == at::kFloat));
  CHECK(at::equal(got, ltx2::vocode(plain, mel)));
  CHECK(rel_err(got, f->copy("expected.wave_f32")) <= 1e-4);

  auto backend = rt::make_backend("cpu", int64_t(1) << 34);
  const auto placed = make(rt::Placement::kStream, quiet_stage_limits(), *backend);
  const auto& c = plain.config;
  CHECK(placed->stages().blocks().size() == static_cast<int>(c.vocoder.stages() + 2 + c.bwe.stages() + 2));
  // The weights are fp32 whatever the file stores; the STFT and mel bases are the fixed weights.
  CHECK((placed->model().weights.mel_stft.mel_basis.scalar_type() == at::kFloat));
  const int64_t nf = c.n_fft / 2 + 1;
  CHECK(placed->stages().blocks().fixed_bytes() == 4 * (c.num_mels * nf + 2 * 2 * nf * c.n_fft));
}

TEST_CASE("placed stages: a forward that skips or reorders stages is refused and binds nothing afterwards") {
  const auto f = open_fixture(kAudio);
  auto backend = rt::make_backend("cpu", int64_t(1) << 34);
  for (auto mode : {rt::Placement::kResident, rt::Placement::kStream}) {
    auto placed = load_placed_audio_decoder(*f, at::kFloat, mode, *backend, quiet_stage_limits());
    placed->stages().plan(0, 0);
    CHECK_THROWS_AS(placed->run([](const ltx2::AudioDecoderModel&, const ltx2::StageHooks&) { return at::zeros({1}); }),
                    std::logic_error);
    CHECK_THROWS_AS(placed->run([](const ltx2::AudioDecoderModel&, const ltx2::StageHooks& h) {
      h.begin(1);
      return at::zeros({1});
    }),
                    std::logic_error);
    CHECK_THROWS_AS(placed->run([](const ltx2::AudioDecoderModel&, const ltx2::StageHooks& h) {
      h.begin(0);
      throw std::runtime_error("mid-stage failure");
      return at::zeros({1});
    }),
                    std::runtime_error);
    CHECK_FALSE(placed->model().weights.conv_in.weight.defined());
    // and the component still runs afterwards
    const at::Tensor latent = f->copy("input.latent");
    const at::Tensor mel = placed->run([&](const ltx2::AudioDecoderModel& d, const ltx2::StageHooks& h) {
      return ltx2::decode_audio_latent(d, latent, h);
    });
    CHECK(rel_err(mel, f->copy("expected.mel_f32")) <= 1e-4);
  }
}

TEST_CASE("stage working sets grow with the input and count the CPU convolution's workspace") {
  const ltx2::UpsamplerConfig up;
  CHECK(upsampler_working_bytes(up, 16, 32, 48, 2, false) > upsampler_working_bytes(up, 16, 16, 24, 2, false));
  CHECK(upsampler_working_bytes(up, 16, 16, 24, 2, true) > upsampler_working_bytes(up, 16, 16, 24, 2, false));
  // at least the x2 output and its normalized copy
  CHECK(upsampler_working_bytes(up, 16, 16, 24, 2, false) >= 2 * 2 * up.mid_channels * 16 * 32 * 48);
  const ltx2::AudioDecoderConfig ad;
  CHECK(audio_decoder_working_bytes(ad, 126, 16, 2, false) > audio_decoder_working_bytes(ad, 63, 16, 2, false));
  CHECK(audio_decoder_working_bytes(ad, 63, 16, 2, true) > audio_decoder_working_bytes(ad, 63, 16, 2, false));
  const ltx2::VocoderConfig vc;
  CHECK(vocoder_working_bytes(vc, 501, false) > vocoder_working_bytes(vc, 251, false));
  // at least the 48 kHz stereo output in fp32
  CHECK(vocoder_working_bytes(vc, 501, false) >= 4 * 2 * 501 * vc.vocoder.total_upsample() * vc.resample_ratio());
}
