#include "worker/engine/ltx2/video_decoder_config.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "worker/engine/layers/json_fields.hpp"

namespace ff::ltx2 {
namespace {

namespace fields = ff::layers::fields;

[[noreturn]] void refuse(const std::string& what, const std::string& key, const std::string& msg) {
  throw std::invalid_argument(what + ": key '" + key + "' " + msg);
}

bool read_bool(const json::Object& o, std::string_view key, bool fallback, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v) return fallback;
  if (!v->is_bool())
    refuse(what, std::string(key), std::string("must be a boolean, got ") + v->type_name());
  return v->as_bool();
}

int64_t positive(const json::Object& o, std::string_view key, int64_t fallback, const std::string& what) {
  int64_t v = fallback;
  fields::read(o, key, v, what);
  if (v < 1) refuse(what, std::string(key), "must be >= 1, got " + std::to_string(v));
  return v;
}

// One [name, params] entry; params is an int (num_layers) or an object.
VideoDecoderBlock parse_block(const json::Value& entry, const std::string& what) {
  if (!entry.is_array() || entry.as_array().size() != 2 || !entry[0].is_string())
    throw std::invalid_argument(what + ": expected [name, params], got " + json::dump(entry));
  const std::string name = entry[0].as_string();
  json::Object params;
  if (entry[1].is_number()) {
    params.set("num_layers", entry[1]);
  } else if (entry[1].is_object()) {
    params = entry[1].as_object();
  } else {
    throw std::invalid_argument(what + ": params of '" + name + "' must be an integer or an object");
  }
  const std::string w = what + " ('" + name + "')";
  VideoDecoderBlock b;
  if (name == "res_x") {
    fields::reject_unknown(params, {"num_layers", "inject_noise"}, w);
    if (read_bool(params, "inject_noise", false, w)) refuse(w, "inject_noise", "true is not supported (LTX-2.3 has no noise injection)");
    b.kind = VideoDecoderBlockKind::kResX;
    int64_t n = -1;
    fields::read(params, "num_layers", n, w, /*required=*/true);
    if (n < 0) refuse(w, "num_layers", "must be >= 0");
    b.num_layers = n;
    return b;
  }
  if (name == "compress_time" || name == "compress_space" || name == "compress_all") {
    // ltx-core's int form turns into {"num_layers": n}, which its upsamplers ignore.
    fields::reject_unknown(params, {"multiplier", "residual", "num_layers"}, w);
    if (read_bool(params, "residual", false, w) && name == "compress_all")
      refuse(w, "residual", "true is not supported (LTX-2.3's decoder has no residual upsampling)");
    b.kind = name == "compress_time"    ? VideoDecoderBlockKind::kCompressTime
             : name == "compress_space" ? VideoDecoderBlockKind::kCompressSpace
                                        : VideoDecoderBlockKind::kCompressAll;
    b.multiplier = positive(params, "multiplier", 1, w);
    b.stride_t = name == "compress_space" ? 1 : 2;
    b.stride_s = name == "compress_time" ? 1 : 2;
    return b;
  }
  if (name == "res_x_y" || name == "attn_res_x" || name == "attn")
    throw std::invalid_argument(what + ": decoder block '" + name + "' is not supported (LTX-2.3 does not use it)");
  throw std::invalid_argument(what + ": unknown decoder block '" + name + "'");
}

}  // namespace

const char* video_decoder_block_name(VideoDecoderBlockKind k) {
  switch (k) {
    case VideoDecoderBlockKind::kResX: return "res_x";
    case VideoDecoderBlockKind::kCompressTime: return "compress_time";
    case VideoDecoderBlockKind::kCompressSpace: return "compress_space";
    case VideoDecoderBlockKind::kCompressAll: return "compress_all";
  }
  return "?";
}

int64_t VideoDecoderConfig::bottleneck_channels() const {
  int64_t m = 1;
  for (const auto& b : blocks)
    if (b.is_upsample()) m *= b.multiplier;
  return base_channels * m;
}

int64_t VideoDecoderConfig::final_channels() const {
  return blocks.empty() ? bottleneck_channels() : blocks.back().out_channels;
}

VideoScale VideoDecoderConfig::scale() const {
  int64_t t = 1, s = 1;
  for (const auto& b : blocks) {
    t *= b.stride_t;
    s *= b.stride_s;
  }
  return {t, patch_size * s, patch_size * s};
}

VideoDecoderConfig video_decoder_config_from_json(const json::Value& vae, const std::string& what) {
  const json::Object& o = fields::object(vae, what);
  fields::reject_unknown(o,
                         {"_class_name", "dims", "in_channels", "out_channels", "latent_channels", "patch_size",
                          "norm_layer", "causal_decoder", "timestep_conditioning", "spatial_padding_mode",
                          "decoder_base_channels", "decoder_blocks",
                          // encoder-side or unused by ltx-core's decoder: accepted and ignored
                          "encoder_blocks", "encoder_base_channels", "latent_log_var", "use_quant_conv",
                          "scaling_factor", "normalize_latent_channels", "encoder_spatial_padding_mode"},
                         what);
  std::string cls = "CausalVideoAutoencoder";
  fields::read(o, "_class_name", cls, what);
  if (cls != "CausalVideoAutoencoder")
    refuse(what, "_class_name", "'" + cls + "' is not supported (only the convolutional CausalVideoAutoencoder)");
  if (const json::Value* d = o.find("dims"); d && !(d->is_int() && d->as_int() == 3))
    refuse(what, "dims", "must be 3 (3-D convolutions), got " + json::dump(*d));
  std::string norm = "pixel_norm";
  fields::read(o, "norm_layer", norm, what);
  if (norm != "pixel_norm") refuse(what, "norm_layer", "'" + norm + "' is not supported (only pixel_norm)");
  if (read_bool(o, "causal_decoder", false, what)) refuse(what, "causal_decoder", "true is not supported");
  if (!o.find("timestep_conditioning"))
    refuse(what, "timestep_conditioning", "is missing (ltx-core then defaults to true, which is not supported)");
  if (read_bool(o, "timestep_conditioning", true, what))
    refuse(what, "timestep_conditioning", "true is not supported (LTX-2.3's decoder is unconditioned)");
  std::string pad;
  if (!o.find("spatial_padding_mode"))
    refuse(what, "spatial_padding_mode", "is missing (ltx-core then defaults to 'reflect', which is not supported)");
  fields::read(o, "spatial_padding_mode", pad, what);
  if (pad != "zeros") refuse(what, "spatial_padding_mode", "'" + pad + "' is not supported (only 'zeros')");

  VideoDecoderConfig c;
  c.latent_channels = positive(o, "latent_channels", 128, what);
  c.out_channels = positive(o, "out_channels", 3, what);
  c.patch_size = positive(o, "patch_size", 4, what);
  c.base_channels = positive(o, "decoder_base_channels", 128, what);
  const json::Value* list = o.find("decoder_blocks");
  if (list && !list->is_array()) refuse(what, "decoder_blocks", "must be an array");
  if (list) {
    const auto& arr = list->as_array();
    for (size_t i = arr.size(); i-- > 0;)
      c.blocks.push_back(parse_block(arr[i], what + ": decoder_blocks[" + std::to_string(i) + "]"));
  }
  int64_t ch = c.bottleneck_channels();
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    auto& b = c.blocks[i];
    b.in_channels = ch;
    if (b.is_upsample()) {
      const int64_t prod = b.stride_t * b.stride_s * b.stride_s;
      if ((ch * prod) % b.multiplier != 0 || ch % b.multiplier != 0)
        refuse(what, "decoder_blocks", "block up_blocks." + std::to_string(i) + ": " + std::to_string(ch) +
                                           " channels are not divisible by multiplier " + std::to_string(b.multiplier));
      ch = ch / b.multiplier;
    }
    b.out_channels = ch;
  }
  return c;
}

json::Object video_decoder_config_to_json(const VideoDecoderConfig& c) {
  json::Array blocks;
  for (auto it = c.blocks.rbegin(); it != c.blocks.rend(); ++it) {
    json::Object p;
    if (it->is_upsample())
      p.set("multiplier", it->multiplier);
    else
      p.set("num_layers", it->num_layers);
    blocks.push_back(json::Array{json::Value(video_decoder_block_name(it->kind)), json::Value(std::move(p))});
  }
  json::Object o;
  o.set("_class_name", "CausalVideoAutoencoder");
  o.set("dims", 3);
  o.set("latent_channels", c.latent_channels);
  o.set("out_channels", c.out_channels);
  o.set("patch_size", c.patch_size);
  o.set("norm_layer", "pixel_norm");
  o.set("causal_decoder", false);
  o.set("timestep_conditioning", false);
  o.set("spatial_padding_mode", "zeros");
  o.set("decoder_base_channels", c.base_channels);
  o.set("decoder_blocks", std::move(blocks));
  return o;
}

}  // namespace ff::ltx2
