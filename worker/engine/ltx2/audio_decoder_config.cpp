#include "worker/engine/ltx2/audio_decoder_config.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

#include "common/json_fields.hpp"

namespace ff::ltx2 {
namespace {

// The object member `key` of `o`, or nullopt when absent; refuses a non-object value.
std::optional<json::Fields> sub_object(const json::Fields& o, const std::string& key) {
  if (!o.has(key)) return std::nullopt;
  return o.object(key);
}
std::optional<json::Fields> sub_object(const std::optional<json::Fields>& o, const std::string& key) {
  return o ? sub_object(*o, key) : std::nullopt;
}

// Python's `a or b`: the first present, non-null, non-zero integer among the candidates.
int64_t first_truthy_int(std::initializer_list<std::pair<const std::optional<json::Fields>*, const char*>> candidates) {
  for (const auto& [obj, key] : candidates) {
    if (!*obj) continue;
    const json::Json* v = (*obj)->find(key);
    if (!v || v->is_null()) continue;
    if (int64_t n = (*obj)->required<int64_t>(key); n != 0) return n;
  }
  return 0;
}

}  // namespace

AudioDecoderConfig audio_decoder_config_from_json(const json::Json& section, const std::string& what) {
  const std::optional<json::Fields> root = json::Fields(section, what);
  const auto model = sub_object(root, "model");
  const auto params = sub_object(model, "params");
  const auto dd = sub_object(params, "ddconfig");
  if (!dd) throw std::invalid_argument(what + ": no model.params.ddconfig object (not an LTX-2 audio VAE config?)");
  const std::string& dd_what = dd->path();
  dd->allow_only({"ch", "out_ch", "ch_mult", "num_res_blocks", "attn_resolutions", "resolution", "z_channels",
                  "norm_type", "causality_axis", "dropout", "mid_block_add_attention", "mel_bins", "double_z",
                  "in_channels", "downsample_time", "resamp_with_conv", "attn_type"});

  AudioDecoderConfig c;
  dd->optional("ch", c.ch);
  dd->optional("out_ch", c.out_ch);
  dd->optional("ch_mult", c.ch_mult);
  dd->optional("num_res_blocks", c.num_res_blocks);
  dd->optional("resolution", c.resolution);
  dd->optional("z_channels", c.z_channels);
  if (c.ch <= 0) json::fail(dd_what, "ch", "must be positive");
  if (c.out_ch <= 0) json::fail(dd_what, "out_ch", "must be positive");
  if (c.z_channels <= 0) json::fail(dd_what, "z_channels", "must be positive");
  if (c.num_res_blocks < 0) json::fail(dd_what, "num_res_blocks", "must not be negative");
  if (c.ch_mult.empty() || std::any_of(c.ch_mult.begin(), c.ch_mult.end(), [](int64_t m) { return m <= 0; }))
    json::fail(dd_what, "ch_mult", "must be a non-empty list of positive integers");

  std::string norm = "pixel", causality = "height";
  dd->optional("norm_type", norm);
  dd->optional("causality_axis", causality);
  if (norm != "pixel") json::fail(dd_what, "norm_type", "must be \"pixel\" (only PixelNorm is implemented), got \"" + norm + "\"");
  if (causality != "height")
    json::fail(dd_what, "causality_axis",
           "must be \"height\" (only time-causal convolutions are implemented), got \"" + causality + "\"");

  const json::Json* mid_attn = dd->find("mid_block_add_attention");
  if (!mid_attn) json::fail(dd_what, "mid_block_add_attention", "is missing (ltx-core then adds mid-block attention, which is not implemented)");
  if (!mid_attn->is_boolean() || mid_attn->get<bool>())
    json::fail(dd_what, "mid_block_add_attention", "must be false (mid-block attention is not implemented)");

  // Attention sits at the up levels whose resolution is listed: ltx-core's default list when absent.
  std::vector<int64_t> attn = {8, 16, 32};
  dd->optional("attn_resolutions", attn);
  int64_t res = c.resolution >> (c.levels() - 1);
  for (int64_t level = c.levels() - 1; level >= 0; --level, res *= 2)
    if (std::find(attn.begin(), attn.end(), res) != attn.end())
      json::fail(dd_what, "attn_resolutions",
             "puts attention at resolution " + std::to_string(res) + " (up level " + std::to_string(level) +
                 "); attention blocks are not implemented");

  const auto pre = sub_object(root, "preprocessing");
  const auto mel = sub_object(pre, "mel");
  const auto stft = sub_object(pre, "stft");
  const auto vars = sub_object(root, "variables");
  c.mel_bins = first_truthy_int({{&dd, "mel_bins"}, {&mel, "n_mel_channels"}, {&vars, "mel_bins"}});
  if (c.mel_bins < 0) json::fail(dd_what, "mel_bins", "must be positive");
  c.sample_rate = 16000;
  if (params) params->optional("sampling_rate", c.sample_rate);
  if (stft) stft->optional("hop_length", c.mel_hop_length);
  if (c.sample_rate <= 0) json::fail(what + ".model.params", "sampling_rate", "must be positive");
  if (c.mel_hop_length <= 0) json::fail(what + ".preprocessing.stft", "hop_length", "must be positive");
  return c;
}

json::Json audio_decoder_config_to_json(const AudioDecoderConfig& c) {
  json::Json dd{{"ch", c.ch},
                {"out_ch", c.out_ch},
                {"ch_mult", c.ch_mult},
                {"num_res_blocks", c.num_res_blocks},
                {"attn_resolutions", json::Json::array()},
                {"resolution", c.resolution},
                {"z_channels", c.z_channels},
                {"norm_type", "pixel"},
                {"causality_axis", "height"},
                {"mid_block_add_attention", false}};
  if (c.mel_bins > 0) dd["mel_bins"] = c.mel_bins;
  json::Json params{{"ddconfig", std::move(dd)}, {"sampling_rate", c.sample_rate}};
  return json::Json{{"model", {{"params", std::move(params)}}},
                    {"preprocessing", {{"stft", {{"hop_length", c.mel_hop_length}}}}}};
}

}  // namespace ff::ltx2
