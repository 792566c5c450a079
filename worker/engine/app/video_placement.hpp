// Placement of the video components, taken from the engine config in one place:
// stage1_transformer / stage2_transformer: resident (default), stream or auto;
// vae_decoder: resident or auto (both keep it resident); stream is refused.
#pragma once

#include <cstdint>

#include "worker/engine/app/engine_config.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

struct StagePlacementOptions {
  rt::Placement stage1 = rt::Placement::kResident;  // component "stage1_transformer"
  rt::Placement stage2 = rt::Placement::kResident;  // component "stage2_transformer"
  int64_t budget_bytes = 0;   // the VRAM budget; 0: the meter's cap (the device's memory)
  int64_t reserve_bytes = 0;  // kept free inside the budget
  int slots = 3;              // GPU slots of a streamed pass
  bool log_plans = true;      // one line per plan on stderr
};

// The stages' placements from `c` (unnamed stages are resident). Throws std::invalid_argument
// with a message naming the component when the config asks for what the engine cannot do
// (vae_decoder "stream").
StagePlacementOptions video_placement_options(const EngineConfig& c);

}  // namespace ff::engine
