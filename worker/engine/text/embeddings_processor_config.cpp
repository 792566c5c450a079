#include "worker/engine/text/embeddings_processor_config.hpp"

#include "worker/engine/io/checkpoint_error.hpp"

namespace ff::text {

namespace {

struct Section {
  const json::Object& o;
  std::string where;
  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw io::CheckpointError(where + ": key '" + key + "': " + what);
  }
  const json::Value* get(const std::string& key) const {
    const json::Value* v = o.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  int64_t i(const std::string& key, int64_t def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_number()) fail(key, std::string("expected an integer, got ") + v->type_name());
    try {
      int64_t x = v->as_int();
      if (x <= 0) fail(key, "must be positive");
      return x;
    } catch (const json::TypeError& e) {
      fail(key, e.what());
    }
  }
  int64_t required_i(const std::string& key) const {
    if (!get(key)) fail(key, "missing (needed for the V2 projection width)");
    return i(key, 0);
  }
  bool b(const std::string& key, bool def) const {
    const json::Value* v = get(key);
    if (!v) return def;
    if (!v->is_bool()) fail(key, std::string("expected a bool, got ") + v->type_name());
    return v->as_bool();
  }
};

}  // namespace

EmbeddingsProcessorConfig parse_embeddings_processor_config(const json::Value& ltx_config,
                                                            const io::GemmaConfig& gemma,
                                                            const std::string& source) {
  if (!ltx_config.is_object()) throw io::CheckpointError(source + ": config must be a JSON object");
  const json::Value* tr = ltx_config.find("transformer");
  if (!tr || !tr->is_object()) throw io::CheckpointError(source + ": config has no object 'transformer'");
  Section s{tr->as_object(), source + ": config.transformer"};

  // V2 markers (LTX-2.3): all four present with exact values; none present = V1 (LTX-2 19B).
  const std::pair<const char*, bool> markers[] = {{"caption_proj_before_connector", true},
                                                  {"caption_projection_first_linear", false},
                                                  {"caption_proj_input_norm", false},
                                                  {"caption_projection_second_linear", false}};
  int present = 0;
  for (const auto& [k, want] : markers) {
    if (!s.o.contains(k)) continue;
    ++present;
    const json::Value& v = s.o.at(k);
    if (!v.is_bool() || v.as_bool() != want)
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
  if (const json::Value* v = s.get("rope_type")) {
    if (!v->is_string()) s.fail("rope_type", "expected a string");
    rope = v->as_string();
  }
  if (rope == "split") base.rope_type = LtxRopeType::Split;
  else if (rope == "interleaved") base.rope_type = LtxRopeType::Interleaved;
  else s.fail("rope_type", "unknown rope type '" + rope + "' (expected split or interleaved)");
  if (const json::Value* v = s.get("frequencies_precision")) {
    if (!v->is_string() && !v->is_bool()) s.fail("frequencies_precision", "expected a string");
    base.float64_frequencies = v->is_string() && v->as_string() == "float64";
  }
  if (const json::Value* v = s.get("connector_positional_embedding_max_pos")) {
    if (!v->is_array() || v->as_array().size() != 1)
      s.fail("connector_positional_embedding_max_pos", "expected a one-element array (1-D positions)");
    const json::Value& e = v->as_array()[0];
    if (!e.is_number() || e.as_double() <= 0) s.fail("connector_positional_embedding_max_pos", "expected a positive number");
    base.max_pos = {e.as_int()};
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
