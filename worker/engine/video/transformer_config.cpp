#include "worker/engine/video/transformer_config.hpp"

#include <stdexcept>

#include "worker/engine/video/json_fields.hpp"

namespace ff::video {

TransformerConfig transformer_config_from_json(const json::Value& section, const std::string& what) {
  const auto& o = fields::object(section, what);
  TransformerConfig c;
  // Sizes have no safe default: a checkpoint must state them.
  fields::read(o, "in_channels", c.in_channels, what, true);
  fields::read(o, "num_layers", c.num_layers, what, true);
  fields::read(o, "num_attention_heads", c.num_attention_heads, what, true);
  fields::read(o, "attention_head_dim", c.attention_head_dim, what, true);
  fields::read(o, "ffn_dim", c.ffn_dim, what, true);
  fields::read(o, "cross_attention_dim", c.cross_attention_dim, what, true);
  fields::read(o, "patch_size", c.patch_size, what);
  fields::read(o, "patch_size_t", c.patch_size_t, what);
  fields::read(o, "timestep_embedding_dim", c.timestep_embedding_dim, what);
  fields::read(o, "norm_eps", c.norm_eps, what);
  fields::read(o, "positional_embedding_theta", c.positional_embedding_theta, what);
  fields::read(o, "timestep_scale_multiplier", c.timestep_scale_multiplier, what);
  std::vector<int64_t> max_pos(c.positional_embedding_max_pos.begin(),
                               c.positional_embedding_max_pos.end());
  fields::read(o, "positional_embedding_max_pos", max_pos, what);
  if (max_pos.size() != 3)
    throw std::invalid_argument(what + ": key 'positional_embedding_max_pos' must hold 3 integers (t, h, w)");
  for (int i = 0; i < 3; ++i) c.positional_embedding_max_pos[i] = max_pos[i];
  validate(c, what);
  return c;
}

json::Object transformer_config_to_json(const TransformerConfig& c) {
  json::Array max_pos;
  for (auto v : c.positional_embedding_max_pos) max_pos.emplace_back(static_cast<long long>(v));
  return json::Object{
      {"in_channels", static_cast<long long>(c.in_channels)},
      {"patch_size", static_cast<long long>(c.patch_size)},
      {"patch_size_t", static_cast<long long>(c.patch_size_t)},
      {"num_layers", static_cast<long long>(c.num_layers)},
      {"num_attention_heads", static_cast<long long>(c.num_attention_heads)},
      {"attention_head_dim", static_cast<long long>(c.attention_head_dim)},
      {"ffn_dim", static_cast<long long>(c.ffn_dim)},
      {"cross_attention_dim", static_cast<long long>(c.cross_attention_dim)},
      {"timestep_embedding_dim", static_cast<long long>(c.timestep_embedding_dim)},
      {"norm_eps", c.norm_eps},
      {"positional_embedding_theta", c.positional_embedding_theta},
      {"positional_embedding_max_pos", json::Value(std::move(max_pos))},
      {"timestep_scale_multiplier", c.timestep_scale_multiplier},
  };
}

void validate(const TransformerConfig& c, const std::string& what) {
  auto positive = [&](int64_t v, const char* key) {
    if (v <= 0) throw std::invalid_argument(what + ": key '" + key + "' must be positive, got " + std::to_string(v));
  };
  positive(c.in_channels, "in_channels");
  positive(c.patch_size, "patch_size");
  positive(c.patch_size_t, "patch_size_t");
  positive(c.num_layers, "num_layers");
  positive(c.num_attention_heads, "num_attention_heads");
  positive(c.attention_head_dim, "attention_head_dim");
  positive(c.ffn_dim, "ffn_dim");
  positive(c.cross_attention_dim, "cross_attention_dim");
  positive(c.timestep_embedding_dim, "timestep_embedding_dim");
  for (auto v : c.positional_embedding_max_pos) positive(v, "positional_embedding_max_pos");
  // 3D RoPE splits head_dim into (t, h, w) pairs: at least one pair per axis.
  if (c.attention_head_dim % 2 != 0 || c.attention_head_dim < 6)
    throw std::invalid_argument(what + ": key 'attention_head_dim' must be even and >= 6 for 3D RoPE, got " +
                                std::to_string(c.attention_head_dim));
  if (c.timestep_embedding_dim % 2 != 0)
    throw std::invalid_argument(what + ": key 'timestep_embedding_dim' must be even");
  if (!(c.norm_eps > 0)) throw std::invalid_argument(what + ": key 'norm_eps' must be positive");
  if (!(c.positional_embedding_theta > 1))
    throw std::invalid_argument(what + ": key 'positional_embedding_theta' must be > 1");
}

}  // namespace ff::video
