#include "worker/engine/ltx2/audio_decoder_config.hpp"

#include <algorithm>
#include <stdexcept>

#include "worker/engine/layers/json_fields.hpp"

namespace ff::ltx2 {
namespace {

namespace fields = layers::fields;

[[noreturn]] void refuse(const std::string& what, const std::string& key, const std::string& msg) {
  throw std::invalid_argument(what + ": key '" + key + "' " + msg);
}

// The object member `key` of `o`, or nullptr when absent; refuses a non-object value.
const json::Object* sub_object(const json::Object& o, const std::string& key, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v) return nullptr;
  if (!v->is_object()) refuse(what, key, std::string("must be an object, got ") + v->type_name());
  return &v->as_object();
}

// Python's `a or b`: the first present, non-null, non-zero integer among the candidates.
int64_t first_truthy_int(std::initializer_list<std::pair<const json::Object*, const char*>> candidates,
                         const std::string& what) {
  for (const auto& [obj, key] : candidates) {
    if (!obj) continue;
    const json::Value* v = obj->find(key);
    if (!v || v->is_null()) continue;
    int64_t n = 0;
    fields::read(*obj, key, n, what);
    if (n != 0) return n;
  }
  return 0;
}

}  // namespace

AudioDecoderConfig audio_decoder_config_from_json(const json::Value& section, const std::string& what) {
  const auto& root = fields::object(section, what);
  const json::Object* model = sub_object(root, "model", what);
  const json::Object* params = model ? sub_object(*model, "params", what + ".model") : nullptr;
  const std::string dd_what = what + ".model.params.ddconfig";
  const json::Object* dd = params ? sub_object(*params, "ddconfig", what + ".model.params") : nullptr;
  if (!dd) throw std::invalid_argument(what + ": no model.params.ddconfig object (not an LTX-2 audio VAE config?)");
  fields::reject_unknown(*dd,
                         {"ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "resolution",
                          "z_channels", "norm_type", "causality_axis", "dropout", "mid_block_add_attention",
                          "mel_bins", "double_z", "in_channels", "downsample_time", "resamp_with_conv",
                          "attn_type"},
                         dd_what);

  AudioDecoderConfig c;
  fields::read(*dd, "ch", c.ch, dd_what);
  fields::read(*dd, "out_ch", c.out_ch, dd_what);
  fields::read(*dd, "ch_mult", c.ch_mult, dd_what);
  fields::read(*dd, "num_res_blocks", c.num_res_blocks, dd_what);
  fields::read(*dd, "resolution", c.resolution, dd_what);
  fields::read(*dd, "z_channels", c.z_channels, dd_what);
  if (c.ch <= 0) refuse(dd_what, "ch", "must be positive");
  if (c.out_ch <= 0) refuse(dd_what, "out_ch", "must be positive");
  if (c.z_channels <= 0) refuse(dd_what, "z_channels", "must be positive");
  if (c.num_res_blocks < 0) refuse(dd_what, "num_res_blocks", "must not be negative");
  if (c.ch_mult.empty() || std::any_of(c.ch_mult.begin(), c.ch_mult.end(), [](int64_t m) { return m <= 0; }))
    refuse(dd_what, "ch_mult", "must be a non-empty list of positive integers");

  std::string norm = "pixel", causality = "height";
  fields::read(*dd, "norm_type", norm, dd_what);
  fields::read(*dd, "causality_axis", causality, dd_what);
  if (norm != "pixel") refuse(dd_what, "norm_type", "must be \"pixel\" (only PixelNorm is implemented), got \"" + norm + "\"");
  if (causality != "height")
    refuse(dd_what, "causality_axis",
           "must be \"height\" (only time-causal convolutions are implemented), got \"" + causality + "\"");

  const json::Value* mid_attn = dd->find("mid_block_add_attention");
  if (!mid_attn) refuse(dd_what, "mid_block_add_attention", "is missing (ltx-core then adds mid-block attention, which is not implemented)");
  if (!mid_attn->is_bool() || mid_attn->as_bool())
    refuse(dd_what, "mid_block_add_attention", "must be false (mid-block attention is not implemented)");

  // Attention sits at the up levels whose resolution is listed: ltx-core's default list when absent.
  std::vector<int64_t> attn = {8, 16, 32};
  fields::read(*dd, "attn_resolutions", attn, dd_what);
  int64_t res = c.resolution >> (c.levels() - 1);
  for (int64_t level = c.levels() - 1; level >= 0; --level, res *= 2)
    if (std::find(attn.begin(), attn.end(), res) != attn.end())
      refuse(dd_what, "attn_resolutions",
             "puts attention at resolution " + std::to_string(res) + " (up level " + std::to_string(level) +
                 "); attention blocks are not implemented");

  const json::Object* pre = sub_object(root, "preprocessing", what);
  const json::Object* mel = pre ? sub_object(*pre, "mel", what + ".preprocessing") : nullptr;
  const json::Object* stft = pre ? sub_object(*pre, "stft", what + ".preprocessing") : nullptr;
  const json::Object* vars = sub_object(root, "variables", what);
  c.mel_bins = first_truthy_int({{dd, "mel_bins"}, {mel, "n_mel_channels"}, {vars, "mel_bins"}}, what);
  if (c.mel_bins < 0) refuse(dd_what, "mel_bins", "must be positive");
  c.sample_rate = 16000;
  if (params) fields::read(*params, "sampling_rate", c.sample_rate, what + ".model.params");
  if (stft) fields::read(*stft, "hop_length", c.mel_hop_length, what + ".preprocessing.stft");
  if (c.sample_rate <= 0) refuse(what + ".model.params", "sampling_rate", "must be positive");
  if (c.mel_hop_length <= 0) refuse(what + ".preprocessing.stft", "hop_length", "must be positive");
  return c;
}

json::Object audio_decoder_config_to_json(const AudioDecoderConfig& c) {
  json::Array mult;
  for (int64_t m : c.ch_mult) mult.emplace_back(static_cast<long long>(m));
  json::Object dd{{"ch", static_cast<long long>(c.ch)},
                  {"out_ch", static_cast<long long>(c.out_ch)},
                  {"ch_mult", json::Value(std::move(mult))},
                  {"num_res_blocks", static_cast<long long>(c.num_res_blocks)},
                  {"attn_resolutions", json::Value(json::Array{})},
                  {"resolution", static_cast<long long>(c.resolution)},
                  {"z_channels", static_cast<long long>(c.z_channels)},
                  {"norm_type", "pixel"},
                  {"causality_axis", "height"},
                  {"mid_block_add_attention", false}};
  if (c.mel_bins > 0) dd.set("mel_bins", static_cast<long long>(c.mel_bins));
  json::Object params{{"ddconfig", json::Value(std::move(dd))},
                      {"sampling_rate", static_cast<long long>(c.sample_rate)}};
  json::Object stft{{"hop_length", static_cast<long long>(c.mel_hop_length)}};
  return json::Object{{"model", json::Value(json::Object{{"params", json::Value(std::move(params))}})},
                      {"preprocessing", json::Value(json::Object{{"stft", json::Value(std::move(stft))}})}};
}

}  // namespace ff::ltx2
