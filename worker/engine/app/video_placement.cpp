#include "worker/engine/app/video_placement.hpp"

#include <stdexcept>
#include <string>

namespace ff::engine {
namespace {

rt::Placement stage_placement(const EngineConfig& c, const char* component) {
  auto it = c.placements.find(component);
  return it == c.placements.end() ? rt::Placement::kResident : it->second;
}

}  // namespace

StagePlacementOptions video_placement_options(const EngineConfig& c) {
  if (c.placement("vae_decoder") == rt::Placement::kStream)
    throw std::invalid_argument(
        "engine config: placement 'stream' is not supported for vae_decoder (the decoder is resident; "
        "use resident or auto)");
  StagePlacementOptions o;
  o.stage1 = stage_placement(c, "stage1_transformer");
  o.stage2 = stage_placement(c, "stage2_transformer");
  o.budget_bytes = c.vram_budget_bytes;
  o.reserve_bytes = c.vram_reserve_bytes;
  return o;
}

}  // namespace ff::engine
