#include "worker/engine/app/engine_config.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/json.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"
#include "worker/engine/layers/json_fields.hpp"

namespace ff::engine {

namespace fields = ff::layers::fields;

rt::Placement EngineConfig::placement(std::string_view component) const {
  auto it = placements.find(std::string(component));
  if (it != placements.end()) return it->second;
  const bool encoder = component == component_name(Component::kTextEncoder) ||
                       component == component_name(Component::kEmbeddingsProcessor);
  return encoder ? rt::Placement::kAuto : rt::Placement::kResident;
}

PlanLimits EngineConfig::plan_limits() const {
  PlanLimits l;
  l.budget_bytes = vram_budget_bytes;
  l.reserve_bytes = vram_reserve_bytes;
  return l;
}

bool EngineConfig::weights_fp8(std::string_view component) const {
  auto it = weights.find(std::string(component));
  return it != weights.end() && it->second == "fp8";
}

EngineConfig parse_engine_config(std::string_view json_text, const std::string& source) {
  const std::string what = "engine config " + source;
  json::Value root;
  try {
    root = json::parse(json_text);
  } catch (const json::ParseError& e) {
    throw std::invalid_argument(what + ": " + e.what());
  }
  const auto& o = fields::object(root, what);
  fields::reject_unknown(o, {"device", "model", "placements", "stage2_lora", "weights", "vae_tiling", "vram_budget_bytes", "vram_reserve_bytes",
                             "output_root", "max_encode_batch"}, what);
  EngineConfig c;
  fields::read(o, "device", c.device, what);
  if (const json::Value* m = o.find("model")) c.model = *m;
  fields::read(o, "vram_budget_bytes", c.vram_budget_bytes, what);
  fields::read(o, "vram_reserve_bytes", c.vram_reserve_bytes, what);
  fields::read(o, "output_root", c.output_root, what, true);
  int64_t batch = c.max_encode_batch;
  fields::read(o, "max_encode_batch", batch, what);
  if (const json::Value* p = o.find("placements")) {
    const auto& po = fields::object(*p, what + ": key 'placements'");
    for (const auto& [name, v] : po) {
      if (!is_component_name(name)) {
        std::string known;
        for (auto n : kComponentNames) known += (known.empty() ? "" : ", ") + std::string(n);
        throw std::invalid_argument(what + ": unknown component '" + name + "' in 'placements' (known: " + known + ")");
      }
      auto mode = v.is_string() ? rt::parse_placement(v.as_string()) : std::nullopt;
      if (!mode)
        throw std::invalid_argument(what + ": placement of '" + name +
                                    "' must be \"resident\", \"stream\" or \"auto\"");
      c.placements[name] = *mode;
    }
  }
  std::string lora_mode = "lora_delta";
  fields::read(o, "stage2_lora", lora_mode, what);
  if (lora_mode != "lora_delta" && lora_mode != "fused")
    throw std::invalid_argument(what + ": key 'stage2_lora' must be \"lora_delta\" or \"fused\", got \"" + lora_mode + "\"");
  c.stage2_lora = lora_mode == "fused" ? EngineConfig::LoraMode::kFused : EngineConfig::LoraMode::kDelta;
  if (const json::Value* w = o.find("weights")) {
    for (const auto& [name, v] : fields::object(*w, what + ": key 'weights'")) {
      if (name != "stage1_transformer" && name != "stage2_transformer")
        throw std::invalid_argument(what + ": key 'weights': '" + name +
                                    "' is not a transformer component (stage1_transformer, stage2_transformer)");
      if (!v.is_string() || (v.as_string() != "bf16" && v.as_string() != "fp8"))
        throw std::invalid_argument(what + ": weights of '" + name + "' must be \"bf16\" or \"fp8\"");
      if (v.as_string() == "fp8") ltx2::require_fp8_weights();
      c.weights[name] = v.as_string();
    }
  }
  if (const json::Value* t = o.find("vae_tiling")) {
    if (!t->is_bool()) throw std::invalid_argument(what + ": key 'vae_tiling' must be true or false");
    c.vae_tiling = t->as_bool();
  }
  if (c.device != "cpu" && c.device != "cuda" && c.device.rfind("cuda:", 0) != 0)
    throw std::invalid_argument(what + ": key 'device' must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + c.device + "\"");
  if (c.vram_budget_bytes < 0) throw std::invalid_argument(what + ": key 'vram_budget_bytes' must be >= 0");
  if (c.vram_reserve_bytes < 0) throw std::invalid_argument(what + ": key 'vram_reserve_bytes' must be >= 0");
  if (c.vram_budget_bytes > 0 && c.vram_reserve_bytes >= c.vram_budget_bytes)
    throw std::invalid_argument(what + ": 'vram_reserve_bytes' must be below 'vram_budget_bytes'");
  if (c.output_root.empty()) throw std::invalid_argument(what + ": key 'output_root' must not be empty");
  if (batch < 1 || batch > 1024)
    throw std::invalid_argument(what + ": key 'max_encode_batch' must be in 1..1024, got " + std::to_string(batch));
  c.max_encode_batch = static_cast<int32_t>(batch);
  return c;
}

EngineConfig load_engine_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("engine config " + path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_engine_config(ss.str(), path);
}

}  // namespace ff::engine
