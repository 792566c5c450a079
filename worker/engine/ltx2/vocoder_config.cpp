#include "worker/engine/ltx2/vocoder_config.hpp"

#include <stdexcept>

#include "worker/engine/layers/json_fields.hpp"

namespace ff::ltx2 {
namespace {

namespace fields = layers::fields;

[[noreturn]] void refuse(const std::string& what, const std::string& key, const std::string& msg) {
  throw std::invalid_argument(what + ": key '" + key + "' " + msg);
}

bool read_bool(const json::Object& o, const std::string& key, bool fallback, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v) return fallback;
  if (!v->is_bool()) refuse(what, key, std::string("must be a bool, got ") + v->type_name());
  return v->as_bool();
}

// ltx-core's check_config_value: the key must be present and equal.
void require_string(const json::Object& o, const std::string& key, const std::string& want, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v || !v->is_string() || v->as_string() != want)
    refuse(what, key, "must be \"" + want + "\" (only BigVGAN v2 AMP1 with SnakeBeta is implemented)");
}

std::vector<std::vector<int64_t>> read_nested(const json::Object& o, const std::string& key,
                                              std::vector<std::vector<int64_t>> fallback, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v) return fallback;
  if (!v->is_array()) refuse(what, key, "must be a list of lists of integers");
  std::vector<std::vector<int64_t>> out;
  for (const auto& row : v->as_array()) {
    if (!row.is_array()) refuse(what, key, "must be a list of lists of integers");
    json::Object tmp{{"r", row}};
    std::vector<int64_t> r;
    fields::read(tmp, "r", r, what + "." + key);
    out.push_back(std::move(r));
  }
  return out;
}

BigVganConfig bigvgan_from_json(const json::Object& o, const std::string& what, bool bwe) {
  if (bwe)
    fields::reject_unknown(o,
                           {"upsample_initial_channel", "resblock", "upsample_rates", "resblock_kernel_sizes",
                            "upsample_kernel_sizes", "resblock_dilation_sizes", "stereo", "use_tanh_at_final",
                            "activation", "use_bias_at_final", "apply_final_activation", "input_sampling_rate",
                            "output_sampling_rate", "hop_length", "n_fft", "win_size", "num_mels"},
                           what);
  else
    fields::reject_unknown(o,
                           {"upsample_initial_channel", "resblock", "upsample_rates", "resblock_kernel_sizes",
                            "upsample_kernel_sizes", "resblock_dilation_sizes", "stereo", "use_tanh_at_final",
                            "activation", "use_bias_at_final", "apply_final_activation", "output_sampling_rate"},
                           what);
  require_string(o, "resblock", "AMP1", what);
  require_string(o, "activation", "snakebeta", what);
  const json::Value* stereo = o.find("stereo");
  if (!stereo || !stereo->is_bool() || !stereo->as_bool()) refuse(what, "stereo", "must be true");
  read_bool(o, "apply_final_activation", true, what);  // type-checked, ignored (see header)

  BigVganConfig c;
  c.apply_final_activation = !bwe;
  fields::read(o, "upsample_initial_channel", c.upsample_initial_channel, what);
  fields::read(o, "upsample_rates", c.upsample_rates, what);
  fields::read(o, "upsample_kernel_sizes", c.upsample_kernel_sizes, what);
  fields::read(o, "resblock_kernel_sizes", c.resblock_kernel_sizes, what);
  c.resblock_dilation_sizes = read_nested(o, "resblock_dilation_sizes", c.resblock_dilation_sizes, what);
  c.use_tanh_at_final = read_bool(o, "use_tanh_at_final", true, what);
  c.use_bias_at_final = read_bool(o, "use_bias_at_final", true, what);

  if (c.upsample_rates.empty()) refuse(what, "upsample_rates", "must not be empty");
  if (c.upsample_kernel_sizes.size() != c.upsample_rates.size())
    refuse(what, "upsample_kernel_sizes", "must have one entry per upsample rate");
  for (size_t i = 0; i < c.upsample_rates.size(); ++i) {
    if (c.upsample_rates[i] <= 0) refuse(what, "upsample_rates", "must be positive");
    if (c.upsample_kernel_sizes[i] < c.upsample_rates[i])
      refuse(what, "upsample_kernel_sizes", "must not be smaller than the upsample rate");
  }
  if (c.upsample_initial_channel <= 0 || c.final_channels() < 1)
    refuse(what, "upsample_initial_channel", "must stay >= 1 after halving once per upsample stage");
  if (c.resblock_kernel_sizes.empty()) refuse(what, "resblock_kernel_sizes", "must not be empty");
  if (c.resblock_dilation_sizes.size() != c.resblock_kernel_sizes.size())
    refuse(what, "resblock_dilation_sizes", "must have one entry per resblock kernel size");
  for (int64_t k : c.resblock_kernel_sizes)
    if (k <= 0 || k % 2 == 0) refuse(what, "resblock_kernel_sizes", "must be odd and positive");
  for (const auto& d : c.resblock_dilation_sizes) {
    if (d.size() != 3) refuse(what, "resblock_dilation_sizes", "entries must hold 3 dilations (AMPBlock1)");
    for (int64_t x : d)
      if (x <= 0) refuse(what, "resblock_dilation_sizes", "must be positive");
  }
  return c;
}

json::Array int_array(const std::vector<int64_t>& v) {
  json::Array a;
  for (int64_t x : v) a.emplace_back(static_cast<long long>(x));
  return a;
}

json::Object bigvgan_to_json(const BigVganConfig& c) {
  json::Array dil;
  for (const auto& d : c.resblock_dilation_sizes) dil.emplace_back(int_array(d));
  return json::Object{{"upsample_initial_channel", static_cast<long long>(c.upsample_initial_channel)},
                      {"resblock", "AMP1"},
                      {"upsample_rates", json::Value(int_array(c.upsample_rates))},
                      {"resblock_kernel_sizes", json::Value(int_array(c.resblock_kernel_sizes))},
                      {"upsample_kernel_sizes", json::Value(int_array(c.upsample_kernel_sizes))},
                      {"resblock_dilation_sizes", json::Value(std::move(dil))},
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

VocoderConfig vocoder_config_from_json(const json::Value& section, const std::string& what) {
  const auto& root = fields::object(section, what);
  if (!root.find("bwe"))
    throw std::invalid_argument(what + ": no \"bwe\" sub-config: the pre-2.3 vocoder without bandwidth "
                                       "extension is not implemented");
  fields::reject_unknown(root, {"vocoder", "bwe"}, what);
  static const json::Value kEmpty{json::Object{}};
  const json::Value* voc = root.find("vocoder");
  VocoderConfig c;
  c.vocoder = bigvgan_from_json(fields::object(voc ? *voc : kEmpty, what + ".vocoder"), what + ".vocoder", false);
  const std::string bw = what + ".bwe";
  const auto& b = fields::object(*root.find("bwe"), bw);
  c.bwe = bigvgan_from_json(b, bw, true);
  fields::read(b, "input_sampling_rate", c.input_sampling_rate, bw, true);
  fields::read(b, "output_sampling_rate", c.output_sampling_rate, bw, true);
  fields::read(b, "hop_length", c.hop_length, bw, true);
  fields::read(b, "n_fft", c.n_fft, bw, true);
  fields::read(b, "num_mels", c.num_mels, bw, true);
  if (c.input_sampling_rate <= 0) refuse(bw, "input_sampling_rate", "must be positive");
  if (c.output_sampling_rate < c.input_sampling_rate || c.output_sampling_rate % c.input_sampling_rate != 0)
    refuse(bw, "output_sampling_rate", "must be a multiple of input_sampling_rate");
  if (c.hop_length <= 0) refuse(bw, "hop_length", "must be positive");
  if (c.n_fft <= 0) refuse(bw, "n_fft", "must be positive");
  if (c.num_mels != VocoderConfig::kMelBins)
    refuse(bw, "num_mels", "must be 64 (the BWE generator reads 2 x 64 mel channels), got " + std::to_string(c.num_mels));
  return c;
}

json::Object vocoder_config_to_json(const VocoderConfig& c) {
  json::Object bwe = bigvgan_to_json(c.bwe);
  bwe.set("apply_final_activation", false);
  bwe.set("input_sampling_rate", static_cast<long long>(c.input_sampling_rate));
  bwe.set("output_sampling_rate", static_cast<long long>(c.output_sampling_rate));
  bwe.set("hop_length", static_cast<long long>(c.hop_length));
  bwe.set("n_fft", static_cast<long long>(c.n_fft));
  bwe.set("win_size", static_cast<long long>(c.n_fft));
  bwe.set("num_mels", static_cast<long long>(c.num_mels));
  return json::Object{{"vocoder", json::Value(bigvgan_to_json(c.vocoder))}, {"bwe", json::Value(std::move(bwe))}};
}

}  // namespace ff::ltx2
