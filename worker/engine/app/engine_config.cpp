#include "worker/engine/app/engine_config.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/json_fields.hpp"
#include "worker/engine/ltx2/fp8_storage.hpp"

namespace ff::engine {

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
// overlap multiples of `cell`, overlap below the tile. Errors name "vae_tiling.<key>".
void check_tile_axis(int64_t tile, int64_t overlap, int64_t cell, const char* tile_key, const char* overlap_key) {
  const std::string t = std::string("vae_tiling.") + tile_key, o = std::string("vae_tiling.") + overlap_key;
  if (tile < 0) json::fail(t, "must be >= 0, got " + std::to_string(tile));
  if (overlap < 0) json::fail(o, "must be >= 0, got " + std::to_string(overlap));
  if (tile == 0) {
    if (overlap != 0) json::fail(o, std::string("must be 0 when '") + tile_key + "' is 0 (untiled)");
    return;
  }
  if (tile % cell != 0)
    json::fail(t, "must be a multiple of " + std::to_string(cell) + " (one latent cell), got " + std::to_string(tile));
  if (tile < 2 * cell)
    json::fail(t, "must be at least " + std::to_string(2 * cell) + " (two latent cells), got " + std::to_string(tile));
  if (overlap % cell != 0)
    json::fail(o, "must be a multiple of " + std::to_string(cell) + " (one latent cell), got " +
                      std::to_string(overlap));
  if (overlap >= tile)
    json::fail(o, std::string("must be below '") + tile_key + "' (" + std::to_string(tile) + "), got " +
                      std::to_string(overlap));
}

VaeTiling parse_vae_tiling(const json::Json& v) {
  VaeTiling t;
  if (v.is_boolean()) {
    t.enabled = v.get<bool>();
    return t;
  }
  if (!v.is_object()) json::fail("vae_tiling", "must be true, false or an object of tile sizes");
  const json::Fields o(v, "vae_tiling");
  o.allow_only({"long_side_tile_px", "spatial_overlap_px", "temporal_tile_frames", "temporal_overlap_frames"});
  o.optional("long_side_tile_px", t.long_side_tile_px);
  o.optional("spatial_overlap_px", t.spatial_overlap_px);
  o.optional("temporal_tile_frames", t.temporal_tile_frames);
  o.optional("temporal_overlap_frames", t.temporal_overlap_frames);
  // LTX-2.3's decoder cells (the pipelines' VIDEO_SCALE_FACTORS); the loaded decoder is checked
  // against them at start.
  const ltx2::VideoScale cells;
  check_tile_axis(t.long_side_tile_px, t.spatial_overlap_px, cells.width, "long_side_tile_px", "spatial_overlap_px");
  check_tile_axis(t.temporal_tile_frames, t.temporal_overlap_frames, cells.time, "temporal_tile_frames",
                  "temporal_overlap_frames");
  return t;
}

EngineConfig decode_engine_config(const json::Json& root) {
  const json::Fields o(root, "");
  o.allow_only({"device", "model", "placements", "stage2_lora", "weights", "vae_tiling", "vram_budget_bytes",
                "vram_reserve_bytes", "output_root", "max_encode_batch"});
  EngineConfig c;
  o.optional("device", c.device);
  if (const json::Json* m = o.find("model")) c.model = *m;
  o.optional("vram_budget_bytes", c.vram_budget_bytes);
  o.optional("vram_reserve_bytes", c.vram_reserve_bytes);
  c.output_root = o.required<std::string>("output_root");
  o.optional("max_encode_batch", c.max_encode_batch, 1, 1024);
  if (o.has("placements")) {
    const json::Fields po = o.object("placements");
    for (const auto& [name, v] : po.json().items()) {
      if (!is_component_name(name)) {
        std::string known;
        for (auto n : kComponentNames) known += (known.empty() ? "" : ", ") + std::string(n);
        json::fail(po.path(name), "unknown component '" + name + "' (known: " + known + ")");
      }
      auto mode = v.is_string() ? rt::parse_placement(v.get<std::string>()) : std::nullopt;
      if (!mode) json::fail(po.path(name), "placement must be \"resident\", \"stream\" or \"auto\"");
      c.placements[name] = *mode;
    }
  }
  const std::string lora_mode = o.get_or<std::string>("stage2_lora", "lora_delta");
  if (lora_mode != "lora_delta" && lora_mode != "fused")
    json::fail("stage2_lora", "must be \"lora_delta\" or \"fused\", got \"" + lora_mode + "\"");
  c.stage2_lora = lora_mode == "fused" ? EngineConfig::LoraMode::kFused : EngineConfig::LoraMode::kDelta;
  if (o.has("weights")) {
    const json::Fields w = o.object("weights");
    w.allow_only({"stage1_transformer", "stage2_transformer"});
    for (const auto& [name, v] : w.json().items()) {
      const std::string mode = w.required<std::string>(name);
      if (mode != "bf16" && mode != "fp8") json::fail(w.path(name), "must be \"bf16\" or \"fp8\", got \"" + mode + "\"");
      if (mode == "fp8") ltx2::require_fp8_weights();
      c.weights[name] = mode;
    }
  }
  if (const json::Json* t = o.find("vae_tiling")) c.vae_tiling = parse_vae_tiling(*t);
  if (c.device != "cpu" && c.device != "cuda" && c.device.rfind("cuda:", 0) != 0)
    json::fail("device", "must be \"cpu\", \"cuda\" or \"cuda:N\", got \"" + c.device + "\"");
  if (c.vram_budget_bytes < 0) json::fail("vram_budget_bytes", "must be >= 0");
  if (c.vram_reserve_bytes < 0) json::fail("vram_reserve_bytes", "must be >= 0");
  if (c.vram_budget_bytes > 0 && c.vram_reserve_bytes >= c.vram_budget_bytes)
    json::fail("vram_reserve_bytes", "must be below 'vram_budget_bytes'");
  if (c.output_root.empty()) json::fail("output_root", "must not be empty");
  return c;
}

}  // namespace

EngineConfig parse_engine_config(std::string_view json_text, const std::string& source) {
  const std::string what = "engine config " + source;
  const json::Json root = json::parse(json_text, what);
  try {
    return decode_engine_config(root);
  } catch (const json::Error& e) {
    throw json::Error(what + ": " + e.what());  // "engine config x.json: vae_tiling.n: expected integer, got string"
  }
}

EngineConfig load_engine_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("engine config " + path + ": cannot be read");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_engine_config(ss.str(), path);
}

}  // namespace ff::engine
