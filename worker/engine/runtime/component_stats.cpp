#include "worker/engine/runtime/component_stats.hpp"

namespace ff::engine::rt {

void record_plan(proto::ComponentStats& s, const PlacementPlan& plan, int64_t pinned_host_bytes) {
  s.placement = plan.label();
  s.resident_blocks = plan.resident_blocks;
  s.total_blocks = plan.total_blocks;
  s.resident_bytes = plan.resident_bytes;
  s.pinned_host_bytes = pinned_host_bytes;
}

void record_pass(proto::ComponentStats& s, const PassTimings& t) {
  s.streamed_bytes_total += t.copied_bytes;
  s.stream_seconds_total += t.copy_seconds;
  s.stall_seconds_total += t.stall_seconds;
}

double stream_bandwidth_bytes_per_second(const proto::ComponentStats& s) {
  return s.stream_seconds_total > 0 ? s.streamed_bytes_total / s.stream_seconds_total : 0.0;
}

proto::EngineStats make_engine_stats(DeviceBackend& backend, int64_t budget_bytes,
                                     int64_t ooms_avoided_total,
                                     const std::map<std::string, proto::ComponentStats>& components) {
  proto::EngineStats e;
  const MemorySnapshot m = backend.meter().snapshot();
  e.gpu_used_bytes = m.allocated_bytes;
  e.gpu_total_bytes = m.total_bytes;
  e.vram_budget_bytes = budget_bytes;
  e.ooms_avoided_total = ooms_avoided_total;
  e.components = components;
  return e;
}

}  // namespace ff::engine::rt
