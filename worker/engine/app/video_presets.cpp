#include "worker/engine/app/video_presets.hpp"

#include <stdexcept>

namespace ff::engine {
namespace {

VideoPreset tiny(int64_t ctx_dim) {
  VideoPreset p;
  p.text_preset = "tiny";
  auto& s = p.stage1;
  s.in_channels = 8;
  s.num_layers = 2;
  s.num_attention_heads = 2;
  s.attention_head_dim = 16;
  s.ffn_dim = 64;
  s.cross_attention_dim = ctx_dim;
  s.positional_embedding_max_pos = {64, 256, 256};
  p.stage2 = s;
  p.decoder.latent_channels = 8;
  p.decoder.block_out_channels = {16, 8};
  p.decoder.temporal_upsample = {2, 2};
  p.decoder.spatial_upsample = {2, 4};
  p.dtype = at::kFloat;
  return p;
}

VideoPreset stage22b(int64_t ctx_dim) {
  VideoPreset p;
  p.text_preset = "gemma3-12b";
  auto& s = p.stage1;
  s.in_channels = 128;
  s.num_layers = 48;
  s.num_attention_heads = 32;
  s.attention_head_dim = 128;
  s.ffn_dim = 20480;
  s.cross_attention_dim = ctx_dim;
  p.stage2 = s;
  p.decoder = video::DecoderConfig{};  // 128 latent channels, 8x temporal, 32x spatial
  p.dtype = at::kBFloat16;
  p.distinct_blocks = 2;
  return p;
}

}  // namespace

VideoPreset video_preset(const std::string& name, int64_t ctx_dim) {
  if (ctx_dim <= 0) throw std::invalid_argument("video_preset: context width must be positive");
  if (name == "tiny") return tiny(ctx_dim);
  if (name == "gemma3-12b") {
    auto p = tiny(ctx_dim);
    p.text_preset = "gemma3-12b";
    return p;
  }
  if (name == "stage-22b") return stage22b(ctx_dim);
  throw std::invalid_argument("unknown preset '" + name + "' (known: tiny, gemma3-12b, stage-22b)");
}

}  // namespace ff::engine
