#include "worker/engine/ltx2/video_decoder_config.hpp"

#include <algorithm>
#include <stdexcept>
#include <string_view>

#include "common/json_fields.hpp"

namespace ff::ltx2 {
namespace {

int64_t positive(const json::Fields& o, std::string_view key, int64_t fallback) {
  int64_t v = fallback;
  o.optional(key, v);
  if (v < 1) json::fail(o.path(), std::string(key), "must be >= 1, got " + std::to_string(v));
  return v;
}

// One [name, params] entry; params is an int (num_layers) or an object.
VideoDecoderBlock parse_block(const json::Json& entry, const std::string& what) {
  if (!entry.is_array() || entry.size() != 2 || !entry[0].is_string())
    throw std::invalid_argument(what + ": expected [name, params], got " + entry.dump());
  const std::string name = entry[0].get<std::string>();
  json::Json params;
  if (entry[1].is_number()) {
    params = json::Json{{"num_layers", entry[1]}};
  } else if (entry[1].is_object()) {
    params = entry[1];
  } else {
    throw std::invalid_argument(what + ": params of '" + name + "' must be an integer or an object");
  }
  const json::Fields p(params, what + " ('" + name + "')");
  const std::string& w = p.path();
  VideoDecoderBlock b;
  if (name == "res_x") {
    p.allow_only({"num_layers", "inject_noise"});
    if (p.get_or<bool>("inject_noise", false)) json::fail(w, "inject_noise", "true is not supported (LTX-2.3 has no noise injection)");
    b.kind = VideoDecoderBlockKind::kResX;
    const int64_t n = p.required<int64_t>("num_layers");
    if (n < 0) json::fail(w, "num_layers", "must be >= 0");
    b.num_layers = n;
    return b;
  }
  if (name == "compress_time" || name == "compress_space" || name == "compress_all") {
    // ltx-core's int form turns into {"num_layers": n}, which its upsamplers ignore.
    p.allow_only({"multiplier", "residual", "num_layers"});
    if (p.get_or<bool>("residual", false) && name == "compress_all")
      json::fail(w, "residual", "true is not supported (LTX-2.3's decoder has no residual upsampling)");
    b.kind = name == "compress_time"    ? VideoDecoderBlockKind::kCompressTime
             : name == "compress_space" ? VideoDecoderBlockKind::kCompressSpace
                                        : VideoDecoderBlockKind::kCompressAll;
    b.multiplier = positive(p, "multiplier", 1);
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

VideoDecoderConfig video_decoder_config_from_json(const json::Json& vae, const std::string& what) {
  const json::Fields o(vae, what);
  o.allow_only({"_class_name", "dims", "in_channels", "out_channels", "latent_channels", "patch_size", "norm_layer",
                "causal_decoder", "timestep_conditioning", "spatial_padding_mode", "decoder_base_channels",
                "decoder_blocks",
                // encoder-side or unused by ltx-core's decoder: accepted and ignored
                "encoder_blocks", "encoder_base_channels", "latent_log_var", "use_quant_conv", "scaling_factor",
                "normalize_latent_channels", "encoder_spatial_padding_mode"});
  std::string cls = "CausalVideoAutoencoder";
  o.optional("_class_name", cls);
  if (cls != "CausalVideoAutoencoder")
    json::fail(what, "_class_name", "'" + cls + "' is not supported (only the convolutional CausalVideoAutoencoder)");
  if (const json::Json* d = o.find("dims"); d && !(d->is_number_integer() && *d == 3))
    json::fail(what, "dims", "must be 3 (3-D convolutions), got " + d->dump());
  std::string norm = "pixel_norm";
  o.optional("norm_layer", norm);
  if (norm != "pixel_norm") json::fail(what, "norm_layer", "'" + norm + "' is not supported (only pixel_norm)");
  if (o.get_or<bool>("causal_decoder", false)) json::fail(what, "causal_decoder", "true is not supported");
  if (!o.has("timestep_conditioning"))
    json::fail(what, "timestep_conditioning", "is missing (ltx-core then defaults to true, which is not supported)");
  if (o.required<bool>("timestep_conditioning"))
    json::fail(what, "timestep_conditioning", "true is not supported (LTX-2.3's decoder is unconditioned)");
  std::string pad;
  if (!o.has("spatial_padding_mode"))
    json::fail(what, "spatial_padding_mode", "is missing (ltx-core then defaults to 'reflect', which is not supported)");
  o.optional("spatial_padding_mode", pad);
  if (pad != "zeros") json::fail(what, "spatial_padding_mode", "'" + pad + "' is not supported (only 'zeros')");

  VideoDecoderConfig c;
  c.latent_channels = positive(o, "latent_channels", 128);
  c.out_channels = positive(o, "out_channels", 3);
  c.patch_size = positive(o, "patch_size", 4);
  c.base_channels = positive(o, "decoder_base_channels", 128);
  const json::Json* list = o.find("decoder_blocks");
  if (list && !list->is_array()) json::fail(what, "decoder_blocks", "must be an array");
  if (list) {
    for (size_t i = list->size(); i-- > 0;)
      c.blocks.push_back(parse_block((*list)[i], o.path("decoder_blocks") + "[" + std::to_string(i) + "]"));
  }
  int64_t ch = c.bottleneck_channels();
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    auto& b = c.blocks[i];
    b.in_channels = ch;
    if (b.is_upsample()) {
      const int64_t prod = b.stride_t * b.stride_s * b.stride_s;
      if ((ch * prod) % b.multiplier != 0 || ch % b.multiplier != 0)
        json::fail(what, "decoder_blocks", "block up_blocks." + std::to_string(i) + ": " + std::to_string(ch) +
                                           " channels are not divisible by multiplier " + std::to_string(b.multiplier));
      ch = ch / b.multiplier;
    }
    b.out_channels = ch;
  }
  return c;
}

json::Json video_decoder_config_to_json(const VideoDecoderConfig& c) {
  json::Json blocks = json::Json::array();
  for (auto it = c.blocks.rbegin(); it != c.blocks.rend(); ++it) {
    json::Json p = it->is_upsample() ? json::Json{{"multiplier", it->multiplier}} : json::Json{{"num_layers", it->num_layers}};
    blocks.push_back(json::Json::array({video_decoder_block_name(it->kind), std::move(p)}));
  }
  return json::Json{{"_class_name", "CausalVideoAutoencoder"},
                    {"dims", 3},
                    {"latent_channels", c.latent_channels},
                    {"out_channels", c.out_channels},
                    {"patch_size", c.patch_size},
                    {"norm_layer", "pixel_norm"},
                    {"causal_decoder", false},
                    {"timestep_conditioning", false},
                    {"spatial_padding_mode", "zeros"},
                    {"decoder_base_channels", c.base_channels},
                    {"decoder_blocks", std::move(blocks)}};
}

}  // namespace ff::ltx2
