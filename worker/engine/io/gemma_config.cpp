#include "worker/engine/io/gemma_config.hpp"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ff::io {

namespace {

// Hugging Face writes absent options as null and carries keys we ignore, so this reader takes a
// present null as absent and does not refuse unknown keys (json::Fields would do both).
struct Reader {
  json::Fields f;
  const std::string& where;  // "config.json" or "config.json: text_config"

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw CheckpointError(where + ": key '" + key + "': " + what);
  }
  const json::Json* get(const std::string& key) const {
    const json::Json* v = f.find(key);
    return (v && !v->is_null()) ? v : nullptr;
  }
  template <class T>
  T read(const std::string& key, T def) const {
    const json::Json* v = get(key);
    if (!v) return def;
    try {
      return json::decode<T>(*v, f.path(key));  // "<where>: rope_scaling.factor: expected number, got string"
    } catch (const json::Error& e) {
      throw CheckpointError(where + ": " + e.what());
    }
  }
  int64_t i(const std::string& key, int64_t def) const { return read<int64_t>(key, def); }
  double d(const std::string& key, double def) const { return read<double>(key, def); }
  std::string s(const std::string& key, const std::string& def) const { return read<std::string>(key, def); }
};

RopeParams parse_rope_entry(const json::Json& v, const std::string& where, const std::string& key,
                            double default_theta) {
  if (!v.is_object()) throw CheckpointError(where + ": key '" + key + "': expected an object");
  Reader r{json::Fields(v, key), where};
  std::string type = r.s("rope_type", r.s("type", "default"));
  RopeParams p;
  p.theta = r.d("rope_theta", default_theta);
  if (type == "default") {
    p.linear_factor = 1.0;
  } else if (type == "linear") {
    p.linear_factor = r.d("factor", 1.0);
    if (!(p.linear_factor > 0)) throw CheckpointError(where + ": key '" + key + "': factor must be > 0");
  } else {
    throw CheckpointError(where + ": key '" + key + "': unsupported rope_type '" + type +
                          "' (supported: default, linear)");
  }
  return p;
}

}  // namespace

void GemmaConfig::validate(const std::string& source) const {
  auto bad = [&](const std::string& what) { throw CheckpointError(source + ": " + what); };
  if (vocab_size <= 0 || hidden_size <= 0 || intermediate_size <= 0 || num_hidden_layers <= 0 ||
      num_attention_heads <= 0 || num_key_value_heads <= 0 || head_dim <= 0)
    bad("sizes must be positive");
  if (num_attention_heads % num_key_value_heads != 0)
    bad("num_attention_heads (" + std::to_string(num_attention_heads) +
        ") must be a multiple of num_key_value_heads (" + std::to_string(num_key_value_heads) + ")");
  if (head_dim % 2 != 0) bad("head_dim must be even for rotary embeddings");
  if (static_cast<int64_t>(layer_is_sliding.size()) != num_hidden_layers)
    bad("layer_types has " + std::to_string(layer_is_sliding.size()) + " entries for " +
        std::to_string(num_hidden_layers) + " layers");
  if (sliding_window <= 0) bad("sliding_window must be positive");
  if (!(query_pre_attn_scalar > 0)) bad("query_pre_attn_scalar must be positive");
  if (!(rms_norm_eps >= 0)) bad("rms_norm_eps must be >= 0");
}

GemmaConfig parse_gemma_config(const json::Json& root, const std::string& source) {
  if (!root.is_object()) throw CheckpointError(source + ": expected a JSON object");
  GemmaConfig c;
  auto mt = root.find("model_type");
  if (mt == root.end() || !mt->is_string())
    throw CheckpointError(source + ": missing 'model_type' (expected gemma3_text or gemma3)");
  c.model_type = mt->get<std::string>();
  const json::Json* text = nullptr;
  std::string where = source;
  if (c.model_type == "gemma3_text") {
    text = &root;
  } else if (c.model_type == "gemma3") {
    auto tc = root.find("text_config");
    if (tc == root.end() || !tc->is_object())
      throw CheckpointError(source + ": model_type gemma3 without an object 'text_config'");
    text = &*tc;
    where = source + ": text_config";
    if (auto tmt = tc->find("model_type");
        tmt != tc->end() && tmt->is_string() && tmt->get<std::string>() != "gemma3_text")
      throw CheckpointError(where + ": unknown architecture '" + tmt->get<std::string>() + "' (expected gemma3_text)");
  } else {
    throw CheckpointError(source + ": unknown architecture '" + c.model_type +
                          "' (model_type; supported: gemma3_text, gemma3)");
  }
  Reader r{json::Fields(*text, ""), where};
  c.vocab_size = r.i("vocab_size", c.vocab_size);
  c.hidden_size = r.i("hidden_size", c.hidden_size);
  c.intermediate_size = r.i("intermediate_size", c.intermediate_size);
  c.num_hidden_layers = r.i("num_hidden_layers", c.num_hidden_layers);
  c.num_attention_heads = r.i("num_attention_heads", c.num_attention_heads);
  c.num_key_value_heads = r.i("num_key_value_heads", c.num_key_value_heads);
  c.head_dim = r.i("head_dim", c.head_dim);
  c.rms_norm_eps = r.d("rms_norm_eps", c.rms_norm_eps);
  c.query_pre_attn_scalar = r.d("query_pre_attn_scalar", c.query_pre_attn_scalar);
  c.sliding_window = r.i("sliding_window", c.sliding_window);
  c.pad_token_id = r.i("pad_token_id", c.pad_token_id);
  c.bos_token_id = r.i("bos_token_id", c.bos_token_id);
  c.torch_dtype = r.s("torch_dtype", r.s("dtype", ""));
  if (c.torch_dtype.empty()) c.torch_dtype = Reader{json::Fields(root, ""), source}.s("torch_dtype", "");

  std::string act = r.s("hidden_activation", r.s("hidden_act", "gelu_pytorch_tanh"));
  if (act != "gelu_pytorch_tanh" && act != "gelu_tanh")
    r.fail("hidden_activation", "unsupported activation '" + act + "' (supported: gelu_pytorch_tanh)");
  if (r.get("attn_logit_softcapping"))
    r.fail("attn_logit_softcapping", "attention logit softcapping is not supported (Gemma-3 has none)");
  if (const json::Json* b = r.get("use_bidirectional_attention"); b && b->is_boolean() && b->get<bool>())
    r.fail("use_bidirectional_attention", "bidirectional attention is not supported");

  // Layer types: explicit list (4.53+ and 5.x) or the legacy pattern.
  if (const json::Json* lt = r.get("layer_types")) {
    if (!lt->is_array()) r.fail("layer_types", "expected an array");
    for (const auto& t : *lt) {
      if (!t.is_string()) r.fail("layer_types", "entries must be strings");
      const auto& name = t.get_ref<const std::string&>();
      if (name == "sliding_attention") c.layer_is_sliding.push_back(true);
      else if (name == "full_attention") c.layer_is_sliding.push_back(false);
      else r.fail("layer_types", "unknown layer type '" + name + "'");
    }
  } else {
    int64_t pattern = r.i("sliding_window_pattern", 6);
    if (pattern <= 0) r.fail("sliding_window_pattern", "must be positive");
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) c.layer_is_sliding.push_back((i + 1) % pattern != 0);
  }

  // RoPE: 5.x rope_parameters, else 4.x keys.
  const json::Json* rp = r.get("rope_parameters");
  if (rp) {
    if (!rp->is_object()) r.fail("rope_parameters", "expected an object");
    if (rp->contains("full_attention") || rp->contains("sliding_attention")) {
      if (auto full = rp->find("full_attention"); full != rp->end())
        c.rope_global = parse_rope_entry(*full, where, "rope_parameters.full_attention", 1e6);
      if (auto sl = rp->find("sliding_attention"); sl != rp->end())
        c.rope_local = parse_rope_entry(*sl, where, "rope_parameters.sliding_attention", 1e4);
    } else {
      // A flat rope_parameters applies to the global layers; local layers keep their own base.
      c.rope_global = parse_rope_entry(*rp, where, "rope_parameters", r.d("rope_theta", 1e6));
      c.rope_local = RopeParams{r.d("rope_local_base_freq", 1e4), 1.0};
    }
  } else {
    c.rope_global.theta = r.d("rope_theta", 1e6);
    c.rope_local.theta = r.d("rope_local_base_freq", 1e4);
    if (const json::Json* rs = r.get("rope_scaling")) {
      RopeParams p = parse_rope_entry(*rs, where, "rope_scaling", c.rope_global.theta);
      c.rope_global.linear_factor = p.linear_factor;
    }
  }
  c.validate(where);
  return c;
}

GemmaConfig load_gemma_config(const std::string& path) {
  std::filesystem::path p(path);
  std::error_code ec;
  if (std::filesystem::is_directory(p, ec)) p /= "config.json";
  std::ifstream in(p, std::ios::binary);
  if (!in) throw CheckpointError(p.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  json::Json root;
  try {
    root = json::parse(ss.str(), p.string());
  } catch (const json::Error& e) {
    throw CheckpointError(e.what());
  }
  return parse_gemma_config(root, p.string());
}

json::Json gemma_config_to_json_v4(const GemmaConfig& c) {
  // Emits the legacy pattern form (sliding_window_pattern) when the layer types follow one.
  json::Json o{
      {"model_type", "gemma3_text"},
      {"architectures", json::Json::array({"Gemma3ForCausalLM"})},
      {"vocab_size", c.vocab_size},
      {"hidden_size", c.hidden_size},
      {"intermediate_size", c.intermediate_size},
      {"num_hidden_layers", c.num_hidden_layers},
      {"num_attention_heads", c.num_attention_heads},
      {"num_key_value_heads", c.num_key_value_heads},
      {"head_dim", c.head_dim},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"rms_norm_eps", c.rms_norm_eps},
      {"query_pre_attn_scalar", c.query_pre_attn_scalar},
      {"sliding_window", c.sliding_window},
      {"rope_theta", c.rope_global.theta},
      {"rope_local_base_freq", c.rope_local.theta},
      {"rope_scaling", c.rope_global.linear_factor == 1.0
                           ? json::Json(nullptr)
                           : json::Json{{"rope_type", "linear"}, {"factor", c.rope_global.linear_factor}}},
      {"attn_logit_softcapping", nullptr},
      {"final_logit_softcapping", nullptr},
      {"pad_token_id", c.pad_token_id},
      {"bos_token_id", c.bos_token_id},
      {"eos_token_id", 1},
      {"max_position_embeddings", 131072},
      {"attention_bias", false},
      {"torch_dtype", c.torch_dtype.empty() ? "bfloat16" : c.torch_dtype},
  };
  // sliding_window_pattern when the types follow it exactly.
  for (int64_t p = 1; p <= c.num_hidden_layers + 1; ++p) {
    bool match = true;
    for (int64_t i = 0; i < c.num_hidden_layers && match; ++i)
      match = c.layer_is_sliding[i] == ((i + 1) % p != 0);
    if (match) {
      o["sliding_window_pattern"] = p;
      break;
    }
  }
  return o;
}

}  // namespace ff::io
