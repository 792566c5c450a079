#include "worker/engine/ltx2/vocoder_config.hpp"

#include <stdexcept>

#include "common/json_fields.hpp"

namespace ff::ltx2 {
namespace {

// ltx-core's check_config_value: the key must be present and equal.
void require_string(const json::Fields& o, const std::string& key, const std::string& want) {
  const json::Json* v = o.find(key);
  if (!v || !v->is_string() || v->get<std::string>() != want)
    json::fail(o.path(), key, "must be \"" + want + "\" (only BigVGAN v2 AMP1 with SnakeBeta is implemented)");
}

BigVganConfig bigvgan_from_json(const json::Fields& o, bool bwe) {
  if (bwe)
    o.allow_only({"upsample_initial_channel", "resblock", "upsample_rates", "resblock_kernel_sizes",
                  "upsample_kernel_sizes", "resblock_dilation_sizes", "stereo", "use_tanh_at_final", "activation",
                  "use_bias_at_final", "apply_final_activation", "input_sampling_rate", "output_sampling_rate",
                  "hop_length", "n_fft", "win_size", "num_mels"});
  else
    o.allow_only({"upsample_initial_channel", "resblock", "upsample_rates", "resblock_kernel_sizes",
                  "upsample_kernel_sizes", "resblock_dilation_sizes", "stereo", "use_tanh_at_final", "activation",
                  "use_bias_at_final", "apply_final_activation", "output_sampling_rate"});
  const std::string& what = o.path();
  require_string(o, "resblock", "AMP1");
  require_string(o, "activation", "snakebeta");
  const json::Json* stereo = o.find("stereo");
  if (!stereo || !stereo->is_boolean() || !stereo->get<bool>()) json::fail(what, "stereo", "must be true");
  o.get_or<bool>("apply_final_activation", true);  // type-checked, ignored (see header)

  BigVganConfig c;
  c.apply_final_activation = !bwe;
  o.optional("upsample_initial_channel", c.upsample_initial_channel);
  o.optional("upsample_rates", c.upsample_rates);
  o.optional("upsample_kernel_sizes", c.upsample_kernel_sizes);
  o.optional("resblock_kernel_sizes", c.resblock_kernel_sizes);
  o.optional("resblock_dilation_sizes", c.resblock_dilation_sizes);
  c.use_tanh_at_final = o.get_or<bool>("use_tanh_at_final", true);
  c.use_bias_at_final = o.get_or<bool>("use_bias_at_final", true);

  if (c.upsample_rates.empty()) json::fail(what, "upsample_rates", "must not be empty");
  if (c.upsample_kernel_sizes.size() != c.upsample_rates.size())
    json::fail(what, "upsample_kernel_sizes", "must have one entry per upsample rate");
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    if (c.upsample_rates[i] <= 0) json::fail(what, "upsample_rates", "must be positive");
    if (c.upsample_kernel_sizes[i] < c.upsample_rates[i])
      json::fail(what, "upsample_kernel_sizes", "must not be smaller than the upsample rate");
  }
  if (c.upsample_initial_channel <= 0 || c.final_channels() < 1)
    json::fail(what, "upsample_initial_channel", "must stay >= 1 after halving once per upsample stage");
  if (c.resblock_kernel_sizes.empty()) json::fail(what, "resblock_kernel_sizes", "must not be empty");
  if (c.resblock_dilation_sizes.size() != c.resblock_kernel_sizes.size())
    json::fail(what, "resblock_dilation_sizes", "must have one entry per resblock kernel size");
  for (int64_t k : c.resblock_kernel_sizes)
    if (k <= 0 || k % 2 == 0) json::fail(what, "resblock_kernel_sizes", "must be odd and positive");
  for (const auto& d : c.resblock_dilation_sizes) {
    if (d.size() != 3) json::fail(what, "resblock_dilation_sizes", "entries must hold 3 dilations (AMPBlock1)");
    for (int64_t x : d)
      if (x <= 0) json::fail(what, "resblock_dilation_sizes", "must be positive");
  }
  return c;
}

json::Json bigvgan_to_json(const BigVganConfig& c) {
  return json::Json{{"upsample_initial_channel", c.upsample_initial_channel},
                    {"resblock", "AMP1"},
                    {"upsample_rates", c.upsample_rates},
                    {"resblock_kernel_sizes", c.resblock_kernel_sizes},
                    {"upsample_kernel_sizes", c.upsample_kernel_sizes},
                    {"resblock_dilation_sizes", c.resblock_dilation_sizes},
                    {"stereo", true},
                    {"use_tanh_at_final", c.use_tanh_at_final},
                    {"activation", "snakebeta"},
                    {"use_bias_at_final", c.use_bias_at_final}};
}

}  // namespace

int64_t BigVganConfig::total_upsample() const {
  int64_t p = 1;
  for (int64_t r : upsample_rates) p *= r;
  return p;
}

VocoderConfig vocoder_config_from_json(const json::Json& section, const std::string& what) {
  const json::Fields root(section, what);
  if (!root.has("bwe"))
    throw std::invalid_argument(what + ": no \"bwe\" sub-config: the pre-2.3 vocoder without bandwidth "
                                       "extension is not implemented");
  root.allow_only({"vocoder", "bwe"});
  static const json::Json kEmpty = json::Json::object();
  const json::Json* voc = root.find("vocoder");
  VocoderConfig c;
  c.vocoder = bigvgan_from_json(json::Fields(voc ? *voc : kEmpty, root.path("vocoder")), false);
  const json::Fields b = root.object("bwe");
  const std::string& bw = b.path();
  c.bwe = bigvgan_from_json(b, true);
  c.input_sampling_rate = b.required<int64_t>("input_sampling_rate");
  c.output_sampling_rate = b.required<int64_t>("output_sampling_rate");
  c.hop_length = b.required<int64_t>("hop_length");
  c.n_fft = b.required<int64_t>("n_fft");
  c.num_mels = b.required<int64_t>("num_mels");
  if (c.input_sampling_rate <= 0) json::fail(bw, "input_sampling_rate", "must be positive");
  if (c.output_sampling_rate < c.input_sampling_rate || c.output_sampling_rate % c.input_sampling_rate != 0)
    json::fail(bw, "output_sampling_rate", "must be a multiple of input_sampling_rate");
  if (c.hop_length <= 0) json::fail(bw, "hop_length", "must be positive");
  if (c.n_fft <= 0) json::fail(bw, "n_fft", "must be positive");
  if (c.num_mels != VocoderConfig::kMelBins)
    json::fail(bw, "num_mels", "must be 64 (the BWE generator reads 2 x 64 mel channels), got " + std::to_string(c.num_mels));
  return c;
}

json::Json vocoder_config_to_json(const VocoderConfig& c) {
  json::Json bwe = bigvgan_to_json(c.bwe);
  bwe["apply_final_activation"] = false;
  bwe["input_sampling_rate"] = c.input_sampling_rate;
  bwe["output_sampling_rate"] = c.output_sampling_rate;
  bwe["hop_length"] = c.hop_length;
  bwe["n_fft"] = c.n_fft;
  bwe["win_size"] = c.n_fft;
  bwe["num_mels"] = c.num_mels;
  return json::Json{{"vocoder", bigvgan_to_json(c.vocoder)}, {"bwe", std::move(bwe)}};
}

}  // namespace ff::ltx2
