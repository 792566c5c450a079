// Per-component VRAM and streaming figures, kept in the wire form (proto::ComponentStats) and
// updated by the pipelines; EngineStats is assembled from them after each request.
#pragma once

#include <map>
#include <string>

#include "common/protocol.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"
#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::engine::rt {

// Records a call's plan (label, resident blocks/bytes) into the component's stats.
void record_plan(proto::ComponentStats& s, const PlacementPlan& plan, int64_t pinned_host_bytes);
// Adds one pass's streamed bytes, copy time and stall time (cumulative).
void record_pass(proto::ComponentStats& s, const PassTimings& t);
// Achieved stream bandwidth so far, bytes per second (0 before anything streamed).
double stream_bandwidth_bytes_per_second(const proto::ComponentStats& s);

// Device-wide figures plus the components' stats.
proto::EngineStats make_engine_stats(DeviceBackend& backend, int64_t budget_bytes,
                                     int64_t ooms_avoided_total,
                                     const std::map<std::string, proto::ComponentStats>& components);

}  // namespace ff::engine::rt
