#include "worker/engine/runtime/placement.hpp"

#include <algorithm>
#include <cstdio>

namespace ff::engine::rt {

std::string_view placement_name(Placement p) {
  switch (p) {
    case Placement::kResident: return "resident";
    case Placement::kStream: return "stream";
    case Placement::kAuto: return "auto";
  }
  return "auto";
}

std::optional<Placement> parse_placement(std::string_view s) {
  if (s == "resident") return Placement::kResident;
  if (s == "stream") return Placement::kStream;
  if (s == "auto") return Placement::kAuto;
  return std::nullopt;
}

std::string PlacementPlan::label() const {
  if (mode == Placement::kAuto)
    return "auto:" + std::to_string(resident_blocks) + "/" + std::to_string(total_blocks);
  return std::string(placement_name(mode));
}

std::string PlacementPlan::describe() const {
  char buf[320];
  std::snprintf(buf, sizeof buf,
                "%s %s: %d/%d blocks resident, %d slots; resident %.3f GiB + max(ring %.3f GiB + "
                "working %.3f GiB, later %.3f GiB) = %.3f GiB needed, %.3f GiB available",
                label().c_str(), fits ? "fits" : "DOES NOT FIT", resident_blocks, total_blocks,
                slots, resident_bytes / 1073741824.0, ring_bytes / 1073741824.0,
                working_bytes / 1073741824.0, later_bytes / 1073741824.0, needed_bytes / 1073741824.0,
                available_bytes / 1073741824.0);
  return buf;
}

namespace {

// Bytes needed with the first r blocks resident and the rest streamed through the ring.
void fill(PlacementPlan& plan, const PlacementRequest& req, int r) {
  const int n = static_cast<int>(req.block_bytes.size());
  int64_t resident = req.fixed_bytes;
  for (int i = 0; i < r; ++i) resident += req.block_bytes[i];
  int64_t largest = 0;
  for (int i = r; i < n; ++i) largest = std::max(largest, req.block_bytes[i]);
  const int streamed = n - r;
  plan.resident_blocks = r;
  plan.slots = streamed > 0 ? std::min(std::max(3, req.slots), streamed) : 0;
  plan.resident_bytes = resident;
  plan.ring_bytes = streamed > 0 ? plan.slots * largest : 0;
  plan.working_bytes = req.working_bytes;
  plan.later_bytes = req.later_bytes;
  plan.needed_bytes = plan.resident_bytes + std::max(plan.ring_bytes + plan.working_bytes, plan.later_bytes);
  plan.fits = plan.needed_bytes <= plan.available_bytes;
}

}  // namespace

void set_live_memory(PlacementRequest& req, const MemorySnapshot& m, int64_t budget_bytes, int64_t held_bytes) {
  req.budget_bytes = budget_bytes > 0 ? budget_bytes : m.cap_bytes;
  req.used_bytes = std::max<int64_t>(0, m.allocated_bytes - held_bytes);
  req.device_free_bytes = m.free_bytes + std::max<int64_t>(0, m.reserved_bytes - m.allocated_bytes) + held_bytes;
}

PlacementPlan plan_placement(const PlacementRequest& req) {
  PlacementPlan plan;
  plan.mode = req.mode;
  const int n = static_cast<int>(req.block_bytes.size());
  plan.total_blocks = n;
  plan.available_bytes = std::max<int64_t>(
      0, std::min(req.budget_bytes - req.reserve_bytes - req.used_bytes,
                  req.device_free_bytes - req.reserve_bytes));
  switch (req.mode) {
    case Placement::kResident:
      fill(plan, req, n);
      return plan;
    case Placement::kStream:
      fill(plan, req, 0);
      return plan;
    case Placement::kAuto:
      fill(plan, req, n);
      if (plan.fits) return plan;
      // Longest resident prefix that fits beside the ring. Needed bytes are not monotone in r
      // (the ring shrinks when the largest blocks become resident), so try every r downwards.
      for (int r = n - 1; r >= 0; --r) {
        fill(plan, req, r);
        if (plan.fits) return plan;
      }
      fill(plan, req, 0);
      return plan;
  }
  return plan;
}

}  // namespace ff::engine::rt
