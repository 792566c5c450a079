#include "worker/engine/app/engine_config.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/json.hpp"
#include "worker/engine/video/json_fields.hpp"

namespace ff::engine {

namespace fields = ff::video::fields;

rt::Placement EngineConfig::placement(std::string_view component) const {
  auto it = placements.find(std::string(component));
  return it == placements.end() ? rt::Placement::kAuto : it->second;
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
  fields::reject_unknown(o, {"device", "placements", "vram_budget_bytes", "vram_reserve_bytes",
                             "output_root", "max_encode_batch"}, what);
  EngineConfig c;
  fields::read(o, "device", c.device, what);
  fields::read(o, "vram_budget_bytes", c.vram_budget_bytes, what);
  fields::read(o, "vram_reserve_bytes", c.vram_reserve_bytes, what);
  fields::read(o, "output_root", c.output_root, what, true);
  int64_t batch = c.max_encode_batch;
  fields::read(o, "max_encode_batch", batch, what);
  if (const json::Value* p = o.find("placements")) {
    const auto& po = fields::object(*p, what + ": key 'placements'");
    for (const auto& [name, v] : po) {
      if (std::find(kComponents.begin(), kComponents.end(), name) == kComponents.end())
        throw std::invalid_argument(what + ": unknown component '" + name +
                                    "' in 'placements' (known: text_encoder, embeddings_processor, "
                                    "stage1_transformer, stage2_transformer, vae_decoder)");
      auto mode = v.is_string() ? rt::parse_placement(v.as_string()) : std::nullopt;
      if (!mode)
        throw std::invalid_argument(what + ": placement of '" + name +
                                    "' must be \"resident\", \"stream\" or \"auto\"");
      c.placements[name] = *mode;
    }
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
