#include "worker/engine/text/embeddings_processor_config.hpp"

#include <cmath>

#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::text {

namespace {

// The published config writes absent options as null and carries keys of other components, so a
// present null reads as absent and unknown keys are not refused.
struct Section {
  json::Fields o;
  std::string where;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw io::CheckpointError(where + ": key '" + key + "': " + what);
  }
  const json::Json* get(const std::string& key) const {
    const json::Json* v = o.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  int64_t i(const std::string& key, int64_t def) const {
    const json::Json* v = get(key);
    if (!v) return def;
    int64_t x = 0;
    try {
      x = json::decode<int64_t>(*v, key);
    } catch (const json::Error& e) {
      throw io::CheckpointError(where + ": " + e.what());
    }
    if (x <= 0) fail(key, "must be positive");
    return x;
  }
  int64_t required_i(const std::string& key) const {
    if (!get(key)) fail(key, "missing (needed for the V2 projection width)");
    return i(key, 0);
  }
  bool b(const std::string& key, bool def) const {
    const json::Json* v = get(key);
    if (!v) return def;
    if (!v->is_boolean()) fail(key, std::string("expected a bool, got ") + json::type_of(*v));
    return v->get<bool>();
  }
};

}  // namespace

EmbeddingsProcessorConfig parse_embeddings_processor_config(const json::Json& ltx_config,
                                                            const io::GemmaConfig& gemma,
                                                            const std::string& source) {
  if (!ltx_config.is_object()) throw io::CheckpointError(source + ": config must be a JSON object");
  auto tr = ltx_config.find("transformer");
  if (tr == ltx_config.end() || !tr->is_object())
    throw io::CheckpointError(source + ": config has no object 'transformer'");
  Section s{json::Fields(*tr, "transformer"), source + ": config.transformer"};

  // V2 markers (LTX-2.3): all four present with exact values; none present = V1 (LTX-2 19B).
  const std::pair<const char*, bool> markers[] = {{"caption_proj_before_connector", true},
                                                  {"caption_projection_first_linear", false},
                                                  {"caption_proj_input_norm", false},
                                                  {"caption_projection_second_linear", false}};
  int present = 0;
  for (const auto& [k, want] : markers) {
    const json::Json* v = s.o.find(k);
    if (!v) continue;
    ++present;
    if (!v->is_boolean() || v->get<bool>() != want)
      s.fail(k, std::string("expected ") + (want ? "true" : "false") + " for the LTX-2.3 (V2) feature extractor");
  }
  if (present == 0)
    throw io::CheckpointError(s.where + ": no V2 feature-extractor keys (caption_proj_before_connector, ...): "
                              "LTX-2 (19B, V1) checkpoints are not supported");
  if (present != 4) throw io::CheckpointError(s.where + ": partial V2 feature-extractor config (need all four caption_* keys)");

  EmbeddingsProcessorConfig c;
  c.text_hidden = gemma.hidden_size;
  c.num_hidden_states = gemma.num_hidden_layers + 1;
  c.video_dim = s.required_i("num_attention_heads") * s.required_i("attention_head_dim");
  c.audio_dim = s.required_i("audio_num_attention_heads") * s.required_i("audio_attention_head_dim");

  ConnectorConfig base;
  std::string rope = "split";
  if (const json::Json* v = s.get("rope_type")) {
    if (!v->is_string()) s.fail("rope_type", "expected a string");
    rope = v->get<std::string>();
  }
  if (rope == "split") base.rope_type = LtxRopeType::Split;
  else if (rope == "interleaved") base.rope_type = LtxRopeType::Interleaved;
  else s.fail("rope_type", "unknown rope type '" + rope + "' (expected split or interleaved)");
  if (const json::Json* v = s.get("frequencies_precision")) {
    if (!v->is_string() && !v->is_boolean()) s.fail("frequencies_precision", "expected a string");
    base.float64_frequencies = v->is_string() && v->get<std::string>() == "float64";
  }
  if (const json::Json* v = s.get("connector_positional_embedding_max_pos")) {
    if (!v->is_array() || v->size() != 1)
      s.fail("connector_positional_embedding_max_pos", "expected a one-element array (1-D positions)");
    const json::Json& e = (*v)[0];
    if (!e.is_number() || e.get<double>() <= 0 || e.get<double>() != std::floor(e.get<double>()))
      s.fail("connector_positional_embedding_max_pos", "expected a positive integer");
    base.max_pos = {json::decode<int64_t>(e, "connector_positional_embedding_max_pos[0]")};
  }
  base.gated_attention = s.b("connector_apply_gated_attention", false);
  base.ff_bias = s.b("connector_ff_bias", true);

  c.video = base;
  c.video.num_heads = s.i("connector_num_attention_heads", 30);
  c.video.head_dim = s.i("connector_attention_head_dim", 128);
  c.video.num_layers = s.i("connector_num_layers", 2);
  c.audio = base;
  c.audio.num_heads = s.i("audio_connector_num_attention_heads", c.video.num_heads);
  c.audio.head_dim = s.i("audio_connector_attention_head_dim", c.video.head_dim);
  c.audio.num_layers = s.i("audio_connector_num_layers", c.video.num_layers);

  if (c.video.dim() != c.video_dim)
    throw io::CheckpointError(s.where + ": video connector width " + std::to_string(c.video.dim()) +
                              " (connector heads x head dim) != video projection width " + std::to_string(c.video_dim));
  if (c.audio.dim() != c.audio_dim)
    throw io::CheckpointError(s.where + ": audio connector width " + std::to_string(c.audio.dim()) +
                              " (connector heads x head dim) != audio projection width " + std::to_string(c.audio_dim));
  for (const ConnectorConfig* cc : {&c.video, &c.audio})
    if (cc->head_dim % 2 != 0) throw io::CheckpointError(s.where + ": connector head dim must be even");
  return c;
}

}  // namespace ff::text
