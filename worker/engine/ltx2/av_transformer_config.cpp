#include "worker/engine/ltx2/av_transformer_config.hpp"

#include <stdexcept>
#include <string_view>

#include "common/json_fields.hpp"

namespace ff::ltx2 {
namespace {

// Keys whose value ltx-core's LTXModelConfigurator pins (check_config_value); this port
// implements exactly that value. Absent is accepted (it is the only behaviour there is).
void require_string(const json::Fields& obj, std::string_view key, const std::string& expected,
                    const std::string& what) {
  const json::Json* v = obj.find(key);
  if (!v) return;
  if (!v->is_string() || v->get<std::string>() != expected)
    json::fail(what, key, "must be \"" + expected + "\" (the only value ltx-core and this port implement)");
}
void require_bool(const json::Fields& obj, std::string_view key, bool expected, const std::string& what) {
  bool value = expected;
  obj.optional(key, value);
  if (value != expected)
    json::fail(what, key, std::string("must be ") + (expected ? "true" : "false") +
                          " (the only value ltx-core and this port implement)");
}
void require_number(const json::Fields& obj, std::string_view key, double expected, const std::string& what) {
  const json::Json* v = obj.find(key);
  if (!v) return;
  if (!v->is_number() || v->get<double>() != expected)
    json::fail(what, key, "must be " + std::to_string(expected) + " (the only value ltx-core and this port implement)");
}

// Keys of the published transformer section that this decoder reads or checks.
constexpr std::string_view kUsed[] = {
    "num_layers", "num_attention_heads", "attention_head_dim", "in_channels", "out_channels",
    "cross_attention_dim", "norm_eps", "positional_embedding_theta", "positional_embedding_max_pos",
    "timestep_scale_multiplier", "use_middle_indices_grid", "audio_num_attention_heads",
    "audio_attention_head_dim", "audio_in_channels", "audio_out_channels", "audio_cross_attention_dim",
    "audio_positional_embedding_max_pos", "av_ca_timestep_scale_multiplier", "rope_type",
    "frequencies_precision", "apply_gated_attention", "cross_attention_adaln", "use_prompt_adaln_single",
    "ff_bias", "audio_ff_bias", "use_keyframes_abs_pos_embedding", "caption_proj_before_connector",
    "dropout", "attention_bias", "num_vector_embeds", "activation_fn", "num_embeds_ada_norm",
    "use_linear_projection", "only_cross_attention", "cross_attention_norm", "double_self_attention",
    "upcast_attention", "standardization_norm", "norm_elementwise_affine", "qk_norm",
    "positional_embedding_type", "use_audio_video_cross_attention", "share_ff", "av_cross_ada_norm"};
// Keys known to belong elsewhere (the text side's connectors and caption projection, diffusers
// bookkeeping) or to have no effect in ltx-core's transformer.
constexpr std::string_view kIgnored[] = {
    "_class_name", "attention_type", "caption_channels", "norm_num_groups", "causal_temporal_positioning",
    "use_embeddings_connector", "caption_projection_first_linear", "caption_projection_second_linear",
    "caption_proj_input_norm", "text_encoder_norm_type"};

bool listed(std::string_view key) {
  for (auto k : kUsed)
    if (k == key) return true;
  for (auto k : kIgnored)
    if (k == key) return true;
  return key.starts_with("connector_") || key.starts_with("audio_connector_");
}

void positive(int64_t v, std::string_view key, const std::string& what) {
  if (v <= 0) json::fail(what, key, "must be positive, got " + std::to_string(v));
}

}  // namespace

AVTransformerConfig av_transformer_config_from_json(const json::Json& section, const std::string& what) {
  const json::Fields obj(section, what);
  AVTransformerConfig c;
  for (const auto& [k, v] : section.items())
    if (!listed(k)) c.unrecognized_keys.push_back(k);

  obj.optional("num_layers", c.num_layers);
  obj.optional("num_attention_heads", c.num_attention_heads);
  obj.optional("attention_head_dim", c.attention_head_dim);
  obj.optional("in_channels", c.in_channels);
  obj.optional("out_channels", c.out_channels);
  obj.optional("cross_attention_dim", c.cross_attention_dim);
  obj.optional("positional_embedding_max_pos", c.positional_embedding_max_pos);
  obj.optional("audio_num_attention_heads", c.audio_num_attention_heads);
  obj.optional("audio_attention_head_dim", c.audio_attention_head_dim);
  obj.optional("audio_in_channels", c.audio_in_channels);
  obj.optional("audio_out_channels", c.audio_out_channels);
  obj.optional("audio_cross_attention_dim", c.audio_cross_attention_dim);
  obj.optional("audio_positional_embedding_max_pos", c.audio_positional_embedding_max_pos);
  obj.optional("positional_embedding_theta", c.positional_embedding_theta);
  obj.optional("timestep_scale_multiplier", c.timestep_scale_multiplier);
  obj.optional("av_ca_timestep_scale_multiplier", c.av_ca_timestep_scale_multiplier);
  obj.optional("norm_eps", c.norm_eps);
  obj.optional("apply_gated_attention", c.apply_gated_attention);
  obj.optional("cross_attention_adaln", c.cross_attention_adaln);
  obj.optional("use_prompt_adaln_single", c.use_prompt_adaln_single);
  obj.optional("ff_bias", c.ff_bias);
  obj.optional("audio_ff_bias", c.audio_ff_bias);
  obj.optional("use_middle_indices_grid", c.use_middle_indices_grid);

  std::string rope_type = "split";
  obj.optional("rope_type", rope_type);
  if (rope_type != "split")
    json::fail(what, "rope_type", "is \"" + rope_type + "\": only \"split\" RoPE is implemented");
  if (const json::Json* v = obj.find("frequencies_precision")) {
    // ltx-core: double precision iff the value is "float64"; absent/false means the float32 grid.
    if (*v == "float64") c.double_precision_rope = true;
    else if (*v == "float32") c.double_precision_rope = false;
    else if (*v == false) c.double_precision_rope = false;
    else json::fail(what, "frequencies_precision", "must be \"float64\" or \"float32\"");
  }
  bool caption_before = false;  // ltx-core's default: a caption projection inside the transformer
  obj.optional("caption_proj_before_connector", caption_before);
  if (!caption_before)
    json::fail(what, "caption_proj_before_connector",
           "is false or absent: a caption projection inside the transformer (LTX-2 19B) is not implemented");
  bool keyframes = false;
  obj.optional("use_keyframes_abs_pos_embedding", keyframes);
  if (keyframes)
    json::fail(what, "use_keyframes_abs_pos_embedding", "is true: the keyframe embedding (LTX-2.5) is not implemented");

  require_number(obj, "dropout", 0.0, what);
  require_bool(obj, "attention_bias", true, what);
  if (const json::Json* v = obj.find("num_vector_embeds"); v && !v->is_null())
    json::fail(what, "num_vector_embeds", "must be null");
  require_string(obj, "activation_fn", "gelu-approximate", what);
  require_number(obj, "num_embeds_ada_norm", 1000.0, what);
  require_bool(obj, "use_linear_projection", false, what);
  require_bool(obj, "only_cross_attention", false, what);
  require_bool(obj, "cross_attention_norm", true, what);
  require_bool(obj, "double_self_attention", false, what);
  require_bool(obj, "upcast_attention", false, what);
  require_string(obj, "standardization_norm", "rms_norm", what);
  require_bool(obj, "norm_elementwise_affine", false, what);
  require_string(obj, "qk_norm", "rms_norm", what);
  require_string(obj, "positional_embedding_type", "rope", what);
  require_bool(obj, "use_audio_video_cross_attention", true, what);
  require_bool(obj, "share_ff", false, what);
  require_bool(obj, "av_cross_ada_norm", true, what);
  if (!c.use_middle_indices_grid)
    json::fail(what, "use_middle_indices_grid", "is false: only midpoint positions are implemented (ltx-core requires true)");

  positive(c.num_layers, "num_layers", what);
  positive(c.num_attention_heads, "num_attention_heads", what);
  positive(c.attention_head_dim, "attention_head_dim", what);
  positive(c.in_channels, "in_channels", what);
  positive(c.out_channels, "out_channels", what);
  positive(c.audio_num_attention_heads, "audio_num_attention_heads", what);
  positive(c.audio_attention_head_dim, "audio_attention_head_dim", what);
  positive(c.audio_in_channels, "audio_in_channels", what);
  positive(c.audio_out_channels, "audio_out_channels", what);
  if (c.audio_num_attention_heads != c.num_attention_heads)
    json::fail(what, "audio_num_attention_heads",
           "differs from num_attention_heads: different video/audio head counts are not supported (ltx-core refuses them)");
  if (c.cross_attention_dim != c.inner_dim())
    json::fail(what, "cross_attention_dim",
           "must equal num_attention_heads x attention_head_dim (" + std::to_string(c.inner_dim()) +
               "): the context arrives projected, there is no caption projection");
  if (c.audio_cross_attention_dim != c.audio_inner_dim())
    json::fail(what, "audio_cross_attention_dim",
           "must equal audio_num_attention_heads x audio_attention_head_dim (" +
               std::to_string(c.audio_inner_dim()) + ")");
  if (c.positional_embedding_max_pos.size() != 3)
    json::fail(what, "positional_embedding_max_pos", "must have 3 entries (time, height, width)");
  if (c.audio_positional_embedding_max_pos.size() != 1)
    json::fail(what, "audio_positional_embedding_max_pos", "must have 1 entry (time)");
  for (int64_t m : c.positional_embedding_max_pos) positive(m, "positional_embedding_max_pos", what);
  positive(c.audio_positional_embedding_max_pos[0], "audio_positional_embedding_max_pos", what);
  if (c.inner_dim() % 2 != 0 || c.audio_inner_dim() % 2 != 0 || c.attention_head_dim % 2 != 0 ||
      c.audio_attention_head_dim % 2 != 0)
    json::fail(what, "attention_head_dim", "head dims must be even (split RoPE)");
  if (!(c.norm_eps > 0)) json::fail(what, "norm_eps", "must be positive");
  if (!(c.timestep_scale_multiplier != 0))
    json::fail(what, "timestep_scale_multiplier", "must be non-zero");
  return c;
}

}  // namespace ff::ltx2
