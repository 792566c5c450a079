// Per-call placement planning of one streamable component (a stage transformer, the vae decoder),
// shared by TransformerStages and PlacedDecoder: the plan request from the budget, the reserve and
// the meter's live figures (rt::plan_placement), and, for a stream/auto component, applying the
// plan to its BlockStore (an auto prefix whose upload runs out of memory falls back to streaming
// everything). Engine thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

// The worker-wide inputs of every plan.
struct PlanLimits {
  int64_t budget_bytes = 0;   // the VRAM budget; 0: the meter's cap (the device's memory)
  int64_t reserve_bytes = 0;  // kept free inside the budget
  int slots = 3;              // GPU slots of a streamed pass
  bool log_plans = true;      // one line per plan on stderr ("placement <name>: ...")
};

// What one component asks for in one call.
struct ComponentDemand {
  std::string name;                  // component name, for the log and errors
  rt::Placement mode = rt::Placement::kResident;
  std::vector<int64_t> block_bytes;  // per block, in compute order
  int64_t fixed_bytes = 0;           // non-block weights, always on the device
  int64_t held_bytes = 0;            // device bytes the component holds now (fixed + resident blocks)
  int64_t working_bytes = 0;         // activations of this call
  int64_t later_bytes = 0;           // needed after this phase while the resident part stays
};

// The plan for `d` in `mode` from the backend's live memory figures. Never throws.
rt::PlacementPlan plan_component(rt::DeviceBackend& backend, const PlanLimits& limits, const ComponentDemand& d,
                                 rt::Placement mode);

// Plans a stream/auto component whose blocks are in `store` and applies the plan (an auto
// component's resident prefix is uploaded or freed); logs the plan. Returns the plan in effect.
// Throws rt::VramBudgetError naming the component when it cannot fit even fully streamed.
rt::PlacementPlan place_streamed_component(rt::DeviceBackend& backend, const PlanLimits& limits,
                                           ComponentDemand d, rt::BlockStore& store);

// The fewest device bytes the component needs beyond what it holds now, with its working set.
int64_t min_extra_bytes(const ComponentDemand& d, int slots);

}  // namespace ff::engine
