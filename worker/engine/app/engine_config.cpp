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

std::optional<ltx2::VideoTilingConfig> VaeTiling::for_video(int64_t height, int64_t width,
                                                            const ltx2::VideoScale& scale) const {
  if (!enabled) return std::nullopt;
  const ltx2::TileAxis frames{temporal_tile_frames, temporal_overlap_frames};
  ltx2::VideoTilingConfig c;
  if (long_side_tile_px > 0)
    c = ltx2::video_tiling_from_long_side({long_side_tile_px, spatial_overlap_px}, height, width, scale, frames);
  else
    c.frames = frames;  // untiled in space
  ltx2::validate_video_tiling(c, scale);
  return c;
}

bool EngineConfig::weights_fp8(std::string_view component) const {
  auto it = weights.find(std::string(component));
  return it != weights.end() && it->second == "fp8";
}

namespace {

// One tiled axis in `unit`s: 0 (untiled, overlap 0) or a tile of at least two cells, tile and
// overlap multiples of `cell`, overlap below the tile.
void check_tile_axis(int64_t tile, int64_t overlap, int64_t cell, const char* tile_key, const char* overlap_key,
                     const std::string& what) {
  const std::string t = what + ": key 'vae_tiling." + tile_key + "'", o = what + ": key 'vae_tiling." + overlap_key + "'";
  if (tile < 0) throw std::invalid_argument(t + " must be >= 0, got " + std::to_string(tile));
  if (overlap < 0) throw std::invalid_argument(o + " must be >= 0, got " + std::to_string(overlap));
  if (tile == 0) {
    if (overlap != 0) throw std::invalid_argument(o + " must be 0 when '" + tile_key + "' is 0 (untiled)");
    return;
  }
  if (tile % cell != 0)
    throw std::invalid_argument(t + " must be a multiple of " + std::to_string(cell) + " (one latent cell), got " +
                                std::to_string(tile));
  if (tile < 2 * cell)
    throw std::invalid_argument(t + " must be at least " + std::to_string(2 * cell) + " (two latent cells), got " +
                                std::to_string(tile));
  if (overlap % cell != 0)
    throw std::invalid_argument(o + " must be a multiple of " + std::to_string(cell) + " (one latent cell), got " +
                                std::to_string(overlap));
  if (overlap >= tile)
    throw std::invalid_argument(o + " (" + std::to_string(overlap) + ") must be below '" + tile_key + "' (" +
                                std::to_string(tile) + ")");
}

VaeTiling parse_vae_tiling(const json::Value& v, const std::string& what) {
  VaeTiling t;
  if (v.is_bool()) {
    t.enabled = v.as_bool();
    return t;
  }
  if (!v.is_object())
    throw std::invalid_argument(what + ": key 'vae_tiling' must be true, false or an object of tile sizes");
  const std::string w = what + ": key 'vae_tiling'";
  const auto& o = fields::object(v, w);
  fields::reject_unknown(o, {"long_side_tile_px", "spatial_overlap_px", "temporal_tile_frames", "temporal_overlap_frames"},
                         w);
  fields::read(o, "long_side_tile_px", t.long_side_tile_px, w);
  fields::read(o, "spatial_overlap_px", t.spatial_overlap_px, w);
  fields::read(o, "temporal_tile_frames", t.temporal_tile_frames, w);
  fields::read(o, "temporal_overlap_frames", t.temporal_overlap_frames, w);
  // LTX-2.3's decoder cells (the pipelines' VIDEO_SCALE_FACTORS); the loaded decoder is checked
  // against them at start.
  const ltx2::VideoScale cells;
  check_tile_axis(t.long_side_tile_px, t.spatial_overlap_px, cells.width, "long_side_tile_px", "spatial_overlap_px", what);
  check_tile_axis(t.temporal_tile_frames, t.temporal_overlap_frames, cells.time, "temporal_tile_frames",
                  "temporal_overlap_frames", what);
  return t;
}

}  // namespace

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
  if (const json::Value* t = o.find("vae_tiling")) c.vae_tiling = parse_vae_tiling(*t, what);
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
