// Placement of the video components, taken from the engine config in one place:
// stage1_transformer / stage2_transformer / vae_decoder: resident (default), stream or auto.
#pragma once

#include <cstdint>

#include "worker/engine/app/block_planning.hpp"
#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

struct StagePlacementOptions {
  rt::Placement stage1 = rt::Placement::kResident;   // component "stage1_transformer"
  rt::Placement stage2 = rt::Placement::kResident;   // component "stage2_transformer"
  rt::Placement decoder = rt::Placement::kResident;  // component "vae_decoder"
  int64_t budget_bytes = 0;   // the VRAM budget; 0: the meter's cap (the device's memory)
  int64_t reserve_bytes = 0;  // kept free inside the budget
  int slots = 3;              // GPU slots of a streamed pass
  bool log_plans = true;      // one line per plan on stderr
};

// The video components' placements from `c` (unnamed ones are resident, unlike the encoder
// components whose default is auto), budget and reserve. Any thread.
StagePlacementOptions video_placement_options(const EngineConfig& c);

// The planning limits of these options (budget, reserve, slots, logging). Any thread.
PlanLimits plan_limits(const StagePlacementOptions& o);

}  // namespace ff::engine
