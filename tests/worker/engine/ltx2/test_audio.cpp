// Parity of LTX-2.3's audio VAE decoder and vocoder (BigVGAN v2 + bandwidth extension) with
// ltx-core (fixture written by reference/audio_reference.py from ltx-core's own modules built by
// its configurators, weights under the published names), plus the published 2.3 configs'
// tensor inventory, config refusals and loader errors.
#include "tests/worker/engine/doctest_torch.hpp"

#include "tests/worker/engine/parity.hpp"

#include <filesystem>
#include <string>

#include "common/json_fields.hpp"
#include "tests/worker/engine/temp_dir.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/io/safetensors_writer.hpp"
#include "worker/engine/ltx2/audio_decoder.hpp"
#include "worker/engine/ltx2/ltx2_json.hpp"
#include "worker/engine/ltx2/vocoder.hpp"

using ff::test::rel_err;

namespace {

using namespace ff::ltx2;
namespace json = ff::json;

// The sections as the published ltx-2.3-22b checkpoint carries them (LTX23.md §1; two
// independent dumps of the real header agree).
const char* kPublishedAudioVae = R"({
  "model": {"params": {"ddconfig": {"double_z": true, "mel_bins": 64, "z_channels": 8, "resolution": 256,
    "downsample_time": false, "in_channels": 2, "out_ch": 2, "ch": 128, "ch_mult": [1, 2, 4],
    "num_res_blocks": 2, "attn_resolutions": [], "dropout": 0.0, "mid_block_add_attention": false,
    "norm_type": "pixel", "causality_axis": "height"}, "sampling_rate": 16000}},
  "preprocessing": {"stft": {"filter_length": 1024, "hop_length": 160, "win_length": 1024, "causal": true},
    "mel": {"n_mel_channels": 64, "mel_fmin": 0, "mel_fmax": 8000}}})";
const char* kPublishedVocoder = R"({
  "vocoder": {"upsample_initial_channel": 1536, "resblock": "AMP1", "upsample_rates": [5, 2, 2, 2, 2, 2],
    "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [11, 4, 4, 4, 4, 4],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true, "use_tanh_at_final": false,
    "activation": "snakebeta", "use_bias_at_final": false},
  "bwe": {"upsample_initial_channel": 512, "resblock": "AMP1", "upsample_rates": [6, 5, 2, 2, 2],
    "resblock_kernel_sizes": [3, 7, 11], "upsample_kernel_sizes": [12, 11, 4, 4, 4],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]], "stereo": true, "use_tanh_at_final": false,
    "activation": "snakebeta", "use_bias_at_final": false, "apply_final_activation": false,
    "input_sampling_rate": 16000, "output_sampling_rate": 48000, "hop_length": 80, "n_fft": 512,
    "win_size": 512, "num_mels": 64}})";

const std::string kAudioFixture = std::string(FF_LTX2_FIXTURES) + "/audio.safetensors";

std::shared_ptr<const ff::io::SafetensorsFile> audio_fixture() {
  if (!std::filesystem::exists(kAudioFixture)) {
    FAIL("missing fixture " << kAudioFixture << " (run tests/worker/engine/ltx2/reference/audio_reference.py --out tests/worker/engine/ltx2/fixtures)");
  }
  return ff::io::SafetensorsFile::open(kAudioFixture);
}

json::Json parse(const std::string& s) { return json::parse(s, "test"); }

// `text` with one JSON edit applied at a dotted path ("model.params.ddconfig.norm_type");
// a null value erases the key.
json::Json edited(const char* text, const std::string& path, json::Json v) {
  json::Json root = parse(text);
  json::Json* cur = &root;
  size_t start = 0;
  for (size_t dot; (dot = path.find('.', start)) != std::string::npos; start = dot + 1)
    cur = &cur->at(path.substr(start, dot - start));
  const std::string last = path.substr(start);
  if (v.is_null())
    cur->erase(last);
  else
    (*cur)[last] = std::move(v);
  return root;
}

int64_t elements(const std::vector<ff::layers::WeightSlot>& slots) {
  int64_t n = 0;
  for (const auto& s : slots) {
    int64_t e = 1;
    for (int64_t d : s.shape) e *= d;
    n += e;
  }
  return n;
}

}  // namespace

TEST_CASE("audio decoder config: the published 2.3 section and its tensor inventory") {
  const auto c = audio_decoder_config_from_json(parse(kPublishedAudioVae), "audio_vae");
  CHECK(c.ch == 128);
  CHECK(c.base_channels() == 512);
  CHECK(c.z_channels == 8);
  CHECK(c.mel_bins == 64);
  CHECK(c.mel_hop_length == 160);
  AudioDecoderWeights w;
  const auto slots = audio_decoder_slots(w, c);
  CHECK(slots.size() == 56 + 2);  // LTX23.md §1: 56 decoder tensors + 2 statistics
  CHECK((elements(slots) + 50000) / 100000 == 319);  // 31.9 M (run)
  CHECK(slots[0].name == "audio_vae.per_channel_statistics.mean-of-means");
  bool nin_up1 = false, nin_up2 = false;
  for (const auto& s : slots) {
    nin_up1 = nin_up1 || s.name == "audio_vae.decoder.up.1.block.0.nin_shortcut.conv.weight";
    nin_up2 = nin_up2 || s.name.find("up.2.block.0.nin_shortcut") != std::string::npos;
  }
  CHECK(nin_up1);
  CHECK_FALSE(nin_up2);
  const auto& out_w = slots[slots.size() - 2];
  CHECK(out_w.name == "audio_vae.decoder.conv_out.conv.weight");
  CHECK(out_w.shape == std::vector<int64_t>{2, 128, 3, 3});
  // to_json round-trips
  const auto back = audio_decoder_config_from_json(json::Json(audio_decoder_config_to_json(c)), "rt");
  CHECK(back.ch_mult == c.ch_mult);
  CHECK(back.mel_bins == c.mel_bins);
}

TEST_CASE("audio decoder config: what is not implemented is refused, naming the key") {
  auto refused = [](const json::Json& v, const std::string& key) {
    try {
      audio_decoder_config_from_json(v, "ckpt.safetensors config.audio_vae");
      FAIL("accepted a config that should be refused for " << key);
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(key) != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("ckpt.safetensors") != std::string::npos, msg);
    }
  };
  const std::string dd = "model.params.ddconfig.";
  refused(edited(kPublishedAudioVae, dd + "mid_block_add_attention", true), "mid_block_add_attention");
  refused(edited(kPublishedAudioVae, dd + "mid_block_add_attention", nullptr), "mid_block_add_attention");
  refused(edited(kPublishedAudioVae, dd + "attn_resolutions", json::Json::array({128})), "attn_resolutions");
  // Absent: ltx-core's default {8, 16, 32} misses the levels' resolutions 64/128/256, so no attention.
  CHECK_NOTHROW(audio_decoder_config_from_json(edited(kPublishedAudioVae, dd + "attn_resolutions", nullptr), "a"));
  CHECK(audio_decoder_config_from_json(edited(kPublishedAudioVae, dd + "mel_bins", nullptr), "a").mel_bins == 64);
  refused(edited(kPublishedAudioVae, dd + "norm_type", "group"), "norm_type");
  refused(edited(kPublishedAudioVae, dd + "causality_axis", "width"), "causality_axis");
  refused(edited(kPublishedAudioVae, dd + "tanh_out", true), "tanh_out");
  refused(edited(kPublishedAudioVae, dd + "ch_mult", json::Json::array()), "ch_mult");
  refused(edited(kPublishedAudioVae, "model", nullptr), "ddconfig");
}

TEST_CASE("vocoder config: the published 2.3 section and its tensor inventory") {
  const auto c = vocoder_config_from_json(parse(kPublishedVocoder), "vocoder");
  CHECK(c.vocoder.total_upsample() == 160);  // mel hop at 16 kHz
  CHECK(c.bwe.total_upsample() == c.hop_length * c.resample_ratio());
  CHECK(c.resample_ratio() == 3);
  CHECK(output_sample_rate(c) == 48000);
  CHECK(c.vocoder.apply_final_activation);
  CHECK_FALSE(c.bwe.apply_final_activation);
  CHECK_FALSE(c.vocoder.use_tanh_at_final);
  CHECK(c.vocoder.final_channels() == 24);
  VocoderWeights w;
  const auto slots = vocoder_slots(w, c);
  CHECK(slots.size() == 1227);  // LTX23.md §1
  CHECK(elements(slots) == 129085032);  // 129.1 M (run), 0.55 M of it buffers
  bool mel_basis = false, fwd = false;
  for (const auto& s : slots) {
    if (s.name == "vocoder.mel_stft.mel_basis") mel_basis = s.shape == std::vector<int64_t>{64, 257};
    if (s.name == "vocoder.mel_stft.stft_fn.forward_basis") fwd = s.shape == std::vector<int64_t>{514, 1, 512};
    CHECK_MESSAGE(s.name.find("conv_post.bias") == std::string::npos, s.name);
  }
  CHECK(mel_basis);
  CHECK(fwd);
  const auto back = vocoder_config_from_json(json::Json(vocoder_config_to_json(c)), "rt");
  CHECK(back.bwe.upsample_kernel_sizes == c.bwe.upsample_kernel_sizes);
  CHECK(back.vocoder.resblock_dilation_sizes == c.vocoder.resblock_dilation_sizes);
}

TEST_CASE("vocoder config: what is not implemented is refused, naming the key") {
  auto refused = [](const json::Json& v, const std::string& key) {
    try {
      vocoder_config_from_json(v, "ckpt.safetensors config.vocoder");
      FAIL("accepted a config that should be refused for " << key);
    } catch (const std::invalid_argument& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(key) != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("ckpt.safetensors") != std::string::npos, msg);
    }
  };
  refused(edited(kPublishedVocoder, "bwe", nullptr), "bwe");
  refused(edited(kPublishedVocoder, "vocoder.resblock", "1"), "resblock");
  refused(edited(kPublishedVocoder, "bwe.activation", "snake"), "activation");
  refused(edited(kPublishedVocoder, "vocoder.activation", nullptr), "activation");
  refused(edited(kPublishedVocoder, "vocoder.stereo", false), "stereo");
  refused(edited(kPublishedVocoder, "bwe.num_mels", 80), "num_mels");
  refused(edited(kPublishedVocoder, "bwe.n_fft", nullptr), "n_fft");
  refused(edited(kPublishedVocoder, "bwe.output_sampling_rate", 44100), "output_sampling_rate");
  refused(edited(kPublishedVocoder, "vocoder.upsample_kernel_sizes", json::Json::array({11})),
          "upsample_kernel_sizes");
  refused(edited(kPublishedVocoder, "vocoder.resblock_dilation_sizes",
                 json::Json::array({json::Json::array({1, 3})})),
          "resblock_dilation_sizes");
  refused(edited(kPublishedVocoder, "vocoder.snake_logscale", true), "snake_logscale");
  refused(edited(kPublishedVocoder, "extra", json::Json::object()), "extra");
}

TEST_CASE("audio decoder: parity with ltx-core (fp32 and bf16)") {
  auto f = audio_fixture();
  const at::Tensor latent = f->copy("input.latent");
  const at::Tensor expected = f->copy("expected.mel_f32");

  const auto m32 = load_audio_decoder(*f, at::kCPU, at::kFloat);
  const at::Tensor mel = decode_audio_latent(m32, latent);
  CHECK((mel.scalar_type() == at::kFloat));
  CHECK(mel.sizes().equals({2, 2, 21, 8}));
  const double e32 = rel_err(mel, expected);
  MESSAGE("audio decoder fp32 rel err " << e32);
  CHECK(e32 <= 1e-4);

  // The patchified entry point gives the same result.
  const at::Tensor tokens = latent.permute({0, 2, 1, 3}).reshape({2, 6, 16});
  CHECK(rel_err(decode_audio_latent(m32, audio_tokens_to_latent(tokens, 8)), mel) == 0.0);

  const auto m16 = load_audio_decoder(*f, at::kCPU, at::kBFloat16);
  const at::Tensor mel16 = decode_audio_latent(m16, latent.to(at::kBFloat16));
  CHECK((mel16.scalar_type() == at::kBFloat16));
  const double e16 = rel_err(mel16, expected);
  const double e16_ref = rel_err(mel16, f->copy("expected.mel_bf16"));
  MESSAGE("audio decoder bf16 rel err vs fp32 reference " << e16 << ", vs bf16 reference " << e16_ref);
  CHECK(e16 <= 2e-2);
  CHECK(e16_ref <= 3e-2);  // two independent bf16 runs (conv accumulation differs across libtorch versions)

  // Crop and pad to the configured mel bins (same weights, configs with mel_bins 6 and 10).
  for (const auto& [key, bins] : {std::pair<std::string, int64_t>{"crop6", 6}, {"pad10", 10}}) {
    AudioDecoderModel v = m32;
    v.config = audio_decoder_config_from_json(
        config_section(json::parse(f->metadata().at("config_" + key), "test"), "audio_vae", kAudioFixture), "variant");
    CHECK(v.config.mel_bins == bins);
    const double e = rel_err(decode_audio_latent(v, latent), f->copy("expected.mel_f32_" + key));
    MESSAGE("audio decoder " << key << " rel err " << e);
    CHECK(e <= 1e-4);
  }
}

TEST_CASE("vocoder with bandwidth extension: parity with ltx-core (fp32 compute, bf16 return)") {
  auto f = audio_fixture();
  const at::Tensor mel = f->copy("input.mel");
  const auto m = load_vocoder(*f, at::kCPU, at::kFloat);
  CHECK(output_sample_rate(m) == 48000);

  SUBCASE("the pieces") {
    const double ef = rel_err(hann_resampler_filter(m.config.resample_ratio()), f->copy("expected.resampler_filter"));
    MESSAGE("resampler filter rel err " << ef);
    CHECK(ef <= 1e-6);
    const at::Tensor base = bigvgan_forward(m.weights.vocoder, m.config.vocoder, mel);
    const double eb = rel_err(base, f->copy("expected.wave16k_f32"));
    MESSAGE("base BigVGAN rel err " << eb);
    CHECK(eb <= 1e-4);
    at::Tensor padded = f->copy("expected.wave16k_f32");
    const int64_t rem = padded.size(2) % m.config.hop_length;
    if (rem) padded = at::constant_pad_nd(padded, {0, m.config.hop_length - rem}, 0.0);
    const at::Tensor logmel = bwe_log_mel(m.weights.mel_stft, m.config, padded);
    const double el = rel_err(logmel, f->copy("expected.bwe_logmel_f32"));
    MESSAGE("BWE log-mel rel err " << el);
    CHECK(el <= 1e-4);
    const at::Tensor residual = bigvgan_forward(m.weights.bwe_generator, m.config.bwe,
                                                f->copy("expected.bwe_logmel_f32").transpose(2, 3));
    const double er = rel_err(residual, f->copy("expected.bwe_residual_f32"));
    MESSAGE("BWE residual rel err " << er);
    CHECK(er <= 1e-4);
    const at::Tensor skip = hann_upsample(padded, hann_resampler_filter(3), 3);
    const double es = rel_err(skip, f->copy("expected.bwe_skip_f32"));
    MESSAGE("BWE skip (x3 resample) rel err " << es);
    CHECK(es <= 1e-5);
  }

  SUBCASE("the whole vocoder") {
    const at::Tensor expected = f->copy("expected.wave_f32");
    const at::Tensor wave = vocode(m, mel);
    CHECK((wave.scalar_type() == at::kFloat));
    CHECK(wave.sizes().equals({2, 2, 240}));
    const double e = rel_err(wave, expected);
    MESSAGE("vocoder+BWE fp32 rel err " << e);
    CHECK(e <= 1e-4);

    // bf16 weights (as the file and the pipeline keep them): the compute stays fp32.
    const auto m16 = load_vocoder(*f, at::kCPU, at::kBFloat16);
    const double e_w16 = rel_err(vocode(m16, mel), expected);
    MESSAGE("vocoder+BWE with bf16-stored weights rel err " << e_w16);
    CHECK(e_w16 <= 1e-4);

    // A bf16 mel: fp32 inside, the result rounded to bf16 once (the reference's .to(input_dtype)).
    const at::Tensor w16 = vocode(m16, mel.to(at::kBFloat16));
    CHECK((w16.scalar_type() == at::kBFloat16));
    const double e16 = rel_err(w16, f->copy("expected.wave_bf16"));
    MESSAGE("vocoder+BWE bf16-returned rel err vs the reference's bf16 waveform " << e16);
    CHECK(e16 <= 5e-3);
    CHECK(rel_err(w16, expected) <= 2e-2);
  }
}

TEST_CASE("audio loaders: a missing or mis-shaped tensor is an error naming file and tensor") {
  auto f = audio_fixture();
  ff::test::TempDir dir;
  auto rewrite = [&](const std::string& drop, const std::string& reshape) {
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (const auto& info : f->tensors()) {
      if (info.name == drop) continue;
      at::Tensor t = f->copy(info.name);
      if (info.name == reshape) t = t.reshape({-1});
      tensors.emplace_back(info.name, t);
    }
    const std::string path = dir.file("broken.safetensors");
    ff::io::write_safetensors(path, tensors, f->metadata());
    return ff::io::SafetensorsFile::open(path);
  };
  auto expect_error = [](auto&& load, const std::string& tensor) {
    try {
      load();
      FAIL("loaded a file lacking " << tensor);
    } catch (const ff::io::CheckpointError& e) {
      const std::string msg = e.what();
      CHECK_MESSAGE(msg.find(tensor) != std::string::npos, msg);
      CHECK_MESSAGE(msg.find("broken.safetensors") != std::string::npos, msg);
    }
  };
  {
    auto g = rewrite("audio_vae.per_channel_statistics.std-of-means", "");
    expect_error([&] { load_audio_decoder(*g, at::kCPU, at::kFloat); }, "audio_vae.per_channel_statistics.std-of-means");
    CHECK_NOTHROW(load_vocoder(*g, at::kCPU, at::kFloat));
  }
  {
    auto g = rewrite("vocoder.bwe_generator.resblocks.4.acts2.1.downsample.lowpass.filter",
                     "audio_vae.decoder.up.1.block.0.nin_shortcut.conv.weight");
    expect_error([&] { load_vocoder(*g, at::kCPU, at::kFloat); },
                 "vocoder.bwe_generator.resblocks.4.acts2.1.downsample.lowpass.filter");
    expect_error([&] { load_audio_decoder(*g, at::kCPU, at::kFloat); },
                 "audio_vae.decoder.up.1.block.0.nin_shortcut.conv.weight");
  }
  {
    auto g = rewrite("vocoder.mel_stft.stft_fn.inverse_basis", "");
    expect_error([&] { load_vocoder(*g, at::kCPU, at::kFloat); }, "vocoder.mel_stft.stft_fn.inverse_basis");
  }
}

TEST_CASE("audio decoder and vocoder: shapes on random weights (no fixture)") {
  // The fixture's tiny configs, random weights from the slot lists.
  const char* audio_vae = R"({"model": {"params": {"ddconfig": {"ch": 16, "ch_mult": [1, 2, 4], "num_res_blocks": 1,
    "z_channels": 8, "out_ch": 2, "mel_bins": 8, "attn_resolutions": [], "mid_block_add_attention": false}}}})";
  AudioDecoderModel d;
  d.config = audio_decoder_config_from_json(parse(audio_vae), "tiny");
  at::Generator gen = at::detail::createCPUGenerator(7);
  for (auto& s : audio_decoder_slots(d.weights, d.config)) *s.target = ff::layers::random_tensor(s, gen);
  for (int64_t T : {1, 2, 5}) {
    const at::Tensor mel = decode_audio_latent(d, at::randn({1, 8, T, 2}));
    CHECK(mel.sizes().equals({1, 2, std::max<int64_t>(4 * T - 3, 1), 8}));
    CHECK(at::isfinite(mel).all().item<bool>());
  }
  CHECK_THROWS_AS(decode_audio_latent(d, at::randn({1, 8, 3, 3})), std::invalid_argument);  // z*F != 16

  VocoderModel v;
  v.config = vocoder_config_from_json(
      edited((edited(kPublishedVocoder, "vocoder.upsample_initial_channel", 64)).dump().c_str(),
             "bwe.upsample_initial_channel", 32),
      "tiny");
  for (auto& s : vocoder_slots(v.weights, v.config)) *s.target = ff::layers::random_tensor(s, gen);
  for (int64_t T : {1, 3}) {
    const at::Tensor wave = vocode(v, at::randn({1, 2, T, 64}) - 4.0);
    CHECK(wave.sizes().equals({1, 2, T * 160 * 3}));
    CHECK(at::isfinite(wave).all().item<bool>());
    CHECK(wave.abs().max().item<double>() <= 1.0);
  }
}
