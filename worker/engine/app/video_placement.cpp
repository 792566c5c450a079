#include "worker/engine/app/video_placement.hpp"

namespace ff::engine {
namespace {

rt::Placement video_placement(const EngineConfig& c, const char* component) {
  auto it = c.placements.find(component);
  return it == c.placements.end() ? rt::Placement::kResident : it->second;
}

}  // namespace

StagePlacementOptions video_placement_options(const EngineConfig& c) {
  StagePlacementOptions o;
  o.stage1 = video_placement(c, "stage1_transformer");
  o.stage2 = video_placement(c, "stage2_transformer");
  o.decoder = video_placement(c, "vae_decoder");
  o.budget_bytes = c.vram_budget_bytes;
  o.reserve_bytes = c.vram_reserve_bytes;
  return o;
}

PlanLimits plan_limits(const StagePlacementOptions& o) {
  PlanLimits l;
  l.budget_bytes = o.budget_bytes;
  l.reserve_bytes = o.reserve_bytes;
  l.slots = o.slots;
  l.log_plans = o.log_plans;
  return l;
}

}  // namespace ff::engine
