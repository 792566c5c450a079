#include "worker/engine/ltx2/encoder_inventory.hpp"

#include <stdexcept>

namespace ff::ltx2 {
namespace {

// Errors read "<what>.<key>: <problem>" like json::Fields' own. The published config writes
// absent options as null and shares these sections with the decoders, so a present null reads as
// absent and keys outside the encoder's are not refused here.
[[noreturn]] void fail(const std::string& what, const std::string& key, const std::string& why) {
  json::fail(json::join(what, key), why);
}

const json::Json* get(const json::Json& o, const std::string& key) {
  auto it = o.find(key);
  return (it != o.end() && !it->is_null()) ? &*it : nullptr;
}

template <class T>
T read(const json::Json& o, const std::string& key, T def, const std::string& what) {
  const json::Json* v = get(o, key);
  return v ? json::decode<T>(*v, json::join(what, key)) : def;
}

int64_t positive_int(const json::Json& o, const std::string& key, int64_t def, const std::string& what) {
  const int64_t v = read<int64_t>(o, key, def, what);
  if (v <= 0) fail(what, key, "must be positive");
  return v;
}

std::string string_of(const json::Json& o, const std::string& key, const std::string& def, const std::string& what) {
  return read<std::string>(o, key, def, what);
}

bool bool_of(const json::Json& o, const std::string& key, bool def, const std::string& what) {
  return read<bool>(o, key, def, what);
}

// The object under key (an empty one when absent or null).
const json::Json& object_at(const json::Json& o, const std::string& key, const std::string& what) {
  static const json::Json empty = json::Json::object();
  const json::Json* v = get(o, key);
  if (!v) return empty;
  return json::Fields(*v, json::join(what, key)).json();
}

bool is_res_kind(const std::string& k) {
  return k == "compress_time_res" || k == "compress_space_res" || k == "compress_all_res";
}

// Product of the stride of a compress block.
int64_t stride_volume(const std::string& k) {
  if (k.rfind("compress_time", 0) == 0 || k.rfind("compress_space", 0) == 0) return k.rfind("compress_time", 0) == 0 ? 2 : 4;
  return 8;  // compress_all*
}

void conv(std::vector<NamedShape>& out, const std::string& name, std::vector<int64_t> weight) {
  const int64_t out_ch = weight[0];
  out.push_back({name + ".weight", std::move(weight)});
  out.push_back({name + ".bias", {out_ch}});
}

}  // namespace

VideoEncoderConfig video_encoder_config_from_json(const json::Json& vae_section, const std::string& what) {
  const json::Json& o = json::Fields(vae_section, what).json();
  if (get(o, "encoder"))
    fail(what, "encoder", "a nested encoder config (diffusion VAE layout) is not supported");
  if (positive_int(o, "dims", 3, what) != 3) fail(what, "dims", "only 3-D convolutions are supported");
  if (string_of(o, "norm_layer", "pixel_norm", what) != "pixel_norm")
    fail(what, "norm_layer", "only pixel_norm is supported");
  VideoEncoderConfig c;
  c.in_channels = positive_int(o, "in_channels", 3, what);
  c.latent_channels = positive_int(o, "latent_channels", 128, what);
  c.patch_size = positive_int(o, "patch_size", 4, what);
  c.latent_log_var = string_of(o, "latent_log_var", "uniform", what);
  if (c.latent_log_var != "uniform" && c.latent_log_var != "constant" && c.latent_log_var != "per_channel" &&
      c.latent_log_var != "none")
    fail(what, "latent_log_var", "unknown value '" + c.latent_log_var + "'");
  const json::Json* blocks = get(o, "encoder_blocks");
  if (!blocks) return c;
  if (!blocks->is_array()) fail(what, "encoder_blocks", "expected an array");
  for (size_t i = 0; i < blocks->size(); ++i) {
    const json::Json& b = (*blocks)[i];
    const std::string key = "encoder_blocks[" + std::to_string(i) + "]";
    if (!b.is_array() || b.size() != 2 || !b[0].is_string())
      fail(what, key, "expected [name, int | {params}]");
    VideoEncoderBlock blk;
    blk.kind = b[0].get<std::string>();
    const json::Json& p = b[1];
    if (p.is_number_integer()) {
      blk.num_layers = json::decode<int64_t>(p, json::join(what, key) + "[1]");
    } else if (p.is_object()) {
      blk.num_layers = positive_int(p, "num_layers", 1, json::join(what, key) + "[1]");
      blk.multiplier = positive_int(p, "multiplier", 2, json::join(what, key) + "[1]");
    } else {
      fail(what, key, "parameters must be an integer or an object");
    }
    const bool known = blk.kind == "res_x" || blk.kind == "res_x_y" || blk.kind == "compress_time" ||
                       blk.kind == "compress_space" || blk.kind == "compress_all" || blk.kind == "compress_all_x_y" ||
                       is_res_kind(blk.kind);
    if (!known) fail(what, key, "unsupported encoder block '" + blk.kind + "'");
    if (blk.num_layers <= 0) fail(what, key, "num_layers must be positive");
    c.blocks.push_back(blk);
  }
  return c;
}

AudioEncoderConfig audio_encoder_config_from_json(const json::Json& audio_vae_section, const std::string& what) {
  json::Fields(audio_vae_section, what);  // must be an object
  const std::string w = what + ".model.params.ddconfig";
  const json::Json& dd = object_at(object_at(object_at(audio_vae_section, "model", what), "params", what + ".model"),
                                   "ddconfig", what + ".model.params");
  AudioEncoderConfig c;
  c.ch = positive_int(dd, "ch", 128, w);
  c.num_res_blocks = positive_int(dd, "num_res_blocks", 2, w);
  c.in_channels = positive_int(dd, "in_channels", 2, w);
  c.z_channels = positive_int(dd, "z_channels", 8, w);
  c.double_z = bool_of(dd, "double_z", true, w);
  if (const json::Json* m = get(dd, "ch_mult")) {
    c.ch_mult = json::decode<std::vector<int64_t>>(*m, json::join(w, "ch_mult"));
    if (c.ch_mult.empty()) fail(w, "ch_mult", "expected a non-empty array");
    for (int64_t e : c.ch_mult)
      if (e <= 0) fail(w, "ch_mult", "entries must be positive integers");
  }
  const json::Json* attn = get(dd, "attn_resolutions");
  if (!attn) fail(w, "attn_resolutions", "absent (ltx-core then adds attention at 8, 16, 32): not supported");
  if (!attn->is_array() || !attn->empty()) fail(w, "attn_resolutions", "attention blocks are not supported");
  if (bool_of(dd, "mid_block_add_attention", true, w)) fail(w, "mid_block_add_attention", "mid-block attention is not supported");
  if (string_of(dd, "norm_type", "pixel", w) != "pixel") fail(w, "norm_type", "only pixel norm is supported");
  if (!bool_of(dd, "resamp_with_conv", true, w)) fail(w, "resamp_with_conv", "only strided-conv downsampling is supported");
  return c;
}

std::vector<NamedShape> video_encoder_inventory(const VideoEncoderConfig& c, const std::string& prefix) {
  std::vector<NamedShape> out;
  int64_t ch = c.latent_channels;  // conv_in widens to the latent width (ltx-core's feature_channels)
  conv(out, prefix + "conv_in.conv", {ch, c.in_channels * c.patch_size * c.patch_size, 3, 3, 3});
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    const VideoEncoderBlock& b = c.blocks[i];
    const std::string p = prefix + "down_blocks." + std::to_string(i) + ".";
    if (b.kind == "res_x") {
      for (int64_t j = 0; j < b.num_layers; ++j) {
        const std::string r = p + "res_blocks." + std::to_string(j) + ".";
        conv(out, r + "conv1.conv", {ch, ch, 3, 3, 3});
        conv(out, r + "conv2.conv", {ch, ch, 3, 3, 3});
      }
    } else if (b.kind == "res_x_y") {
      const int64_t o = ch * b.multiplier;
      conv(out, p + "conv1.conv", {o, ch, 3, 3, 3});
      conv(out, p + "conv2.conv", {o, o, 3, 3, 3});
      if (o != ch) {
        conv(out, p + "conv_shortcut", {o, ch, 1, 1, 1});
        out.push_back({p + "norm3.weight", {ch}});
        out.push_back({p + "norm3.bias", {ch}});
      }
      ch = o;
    } else if (b.kind == "compress_all_x_y") {
      const int64_t o = ch * b.multiplier;
      conv(out, p + "conv", {o, ch, 3, 3, 3});
      ch = o;
    } else if (is_res_kind(b.kind)) {
      const int64_t o = ch * b.multiplier;
      const int64_t vol = stride_volume(b.kind);
      if (o % vol != 0)
        throw std::invalid_argument("video encoder block " + std::to_string(i) + " (" + b.kind + "): output width " +
                                    std::to_string(o) + " is not a multiple of the stride volume " + std::to_string(vol));
      conv(out, p + "conv.conv", {o / vol, ch, 3, 3, 3});
      ch = o;
    } else {  // compress_time / compress_space / compress_all: width kept
      conv(out, p + "conv", {ch, ch, 3, 3, 3});
    }
  }
  int64_t out_ch = c.latent_channels;
  if (c.latent_log_var == "per_channel") out_ch *= 2;
  else if (c.latent_log_var == "uniform" || c.latent_log_var == "constant") out_ch += 1;
  conv(out, prefix + "conv_out.conv", {out_ch, ch, 3, 3, 3});
  return out;
}

std::vector<NamedShape> audio_encoder_inventory(const AudioEncoderConfig& c, const std::string& prefix) {
  std::vector<NamedShape> out;
  conv(out, prefix + "conv_in.conv", {c.ch, c.in_channels, 3, 3});
  int64_t block_in = c.ch;
  const size_t levels = c.ch_mult.size();
  for (size_t l = 0; l < levels; ++l) {
    block_in = c.ch * (l == 0 ? 1 : c.ch_mult[l - 1]);
    const int64_t block_out = c.ch * c.ch_mult[l];
    for (int64_t b = 0; b < c.num_res_blocks; ++b) {
      const std::string p = prefix + "down." + std::to_string(l) + ".block." + std::to_string(b) + ".";
      conv(out, p + "conv1.conv", {block_out, block_in, 3, 3});
      conv(out, p + "conv2.conv", {block_out, block_out, 3, 3});
      if (block_in != block_out) conv(out, p + "nin_shortcut.conv", {block_out, block_in, 1, 1});
      block_in = block_out;
    }
    if (l + 1 != levels)
      conv(out, prefix + "down." + std::to_string(l) + ".downsample.conv", {block_in, block_in, 3, 3});
  }
  for (const char* m : {"mid.block_1.", "mid.block_2."}) {
    conv(out, prefix + m + "conv1.conv", {block_in, block_in, 3, 3});
    conv(out, prefix + m + "conv2.conv", {block_in, block_in, 3, 3});
  }
  conv(out, prefix + "conv_out.conv", {c.double_z ? 2 * c.z_channels : c.z_channels, block_in, 3, 3});
  return out;
}

json::Json video_encoder_blocks_to_json(const std::vector<VideoEncoderBlock>& blocks) {
  json::Json a = json::Json::array();
  for (const auto& b : blocks) {
    json::Json p = b.kind == "res_x" ? json::Json{{"num_layers", b.num_layers}} : json::Json{{"multiplier", b.multiplier}};
    a.push_back(json::Json::array({b.kind, std::move(p)}));
  }
  return a;
}

}  // namespace ff::ltx2
