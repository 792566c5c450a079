#include "worker/engine/app/block_planning.hpp"

#include <algorithm>
#include <cstdio>

#include <c10/util/Exception.h>

#include "common/log.hpp"
#include "worker/engine/encode/encode_pipeline.hpp"

namespace ff::engine {
namespace {

void log_plan(const PlanLimits& limits, const std::string& name, const rt::PlacementPlan& plan,
              const char* note = "") {
  if (limits.log_plans)
    ff::log::info("engine", "placement ", name, ": ", plan.describe(), note);
}

}  // namespace

rt::PlacementPlan plan_component(rt::DeviceBackend& backend, const PlanLimits& limits, const ComponentDemand& d,
                                 rt::Placement mode) {
  rt::PlacementRequest req;
  req.mode = mode;
  req.block_bytes = d.block_bytes;
  req.fixed_bytes = d.fixed_bytes;
  req.working_bytes = d.working_bytes;
  req.later_bytes = d.later_bytes;
  req.slots = limits.slots;
  req.reserve_bytes = limits.reserve_bytes;
  rt::set_live_memory(req, backend.meter().snapshot(), limits.budget_bytes, d.held_bytes);
  return rt::plan_placement(req);
}

rt::PlacementPlan place_streamed_component(rt::DeviceBackend& backend, const PlanLimits& limits,
                                           ComponentDemand d, rt::BlockStore& store) {
  rt::PlacementPlan plan = plan_component(backend, limits, d, d.mode);
  log_plan(limits, d.name, plan);
  if (!plan.fits)
    throw rt::VramBudgetError(d.name + " does not fit the VRAM budget (placement " +
                                  std::string(rt::placement_name(d.mode)) + "): " + plan.describe());
  if (d.mode != rt::Placement::kAuto) return plan;
  bool oom = false;  // the estimate was low: stream everything instead
  try {
    store.set_resident_prefix(plan.resident_blocks);
  } catch (const c10::OutOfMemoryError&) {
    oom = true;
  } catch (const rt::OutOfMemory&) {
    oom = true;
  }
  if (!oom) return plan;
  store.set_resident_prefix(0);
  d.held_bytes = d.fixed_bytes;
  plan = plan_component(backend, limits, d, rt::Placement::kStream);
  plan.mode = rt::Placement::kAuto;  // exported as auto:0/N
  log_plan(limits, d.name, plan, " (out of memory uploading the resident prefix: streaming all blocks)");
  if (!plan.fits) throw rt::VramBudgetError(d.name + " does not fit the VRAM budget: " + plan.describe());
  return plan;
}

int64_t min_extra_bytes(const ComponentDemand& d, int slots) {
  int64_t all = 0, largest = 0;
  for (int64_t b : d.block_bytes) {
    all += b;
    largest = std::max(largest, b);
  }
  const int64_t n = static_cast<int64_t>(d.block_bytes.size());
  const int64_t ring = std::min<int64_t>(std::max(3, slots), n) * largest;
  int64_t weights = d.mode == rt::Placement::kResident ? all
                    : d.mode == rt::Placement::kStream ? ring
                                                       : std::min(all, ring);
  weights = std::max<int64_t>(0, weights - (d.held_bytes - d.fixed_bytes));
  return weights + d.working_bytes;
}

}  // namespace ff::engine
