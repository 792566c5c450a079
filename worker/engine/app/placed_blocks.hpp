// One component's blocks (transformer blocks, decoder levels, LoRA factors per block) under its
// placement, the part shared by every placed component:
//   resident: every block on the device for the engine's life.
//   stream:   the blocks are copied once, at construction, into one host slab (rt::BlockStore,
//             pinned on CUDA); every sweep streams them through a ring of GPU slots.
//   auto:     as stream, but each call's plan keeps the longest prefix that fits resident.
// The component's non-block weights ("fixed") are the owner's; it reports their bytes here so
// plans and stats count them. Stats (plan, resident/pinned bytes, streamed bytes, copy and stall
// time) live here. Engine thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.hpp"
#include "worker/engine/app/block_planning.hpp"
#include "worker/engine/runtime/block_pass.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

class PlacedBlocks {
 public:
  // `blocks` are host tensors (stream/auto: copied into the store, then dropped by the caller)
  // or, for resident, tensors already on the device (kept). `fixed_bytes`: device bytes of the
  // owner's non-block weights. Charges what stays on the device to the backend's meter.
  PlacedBlocks(std::string component, rt::Placement mode, std::vector<rt::BlockTensors> blocks,
               int64_t fixed_bytes, rt::DeviceBackend& backend, PlanLimits limits);
  PlacedBlocks(const PlacedBlocks&) = delete;
  PlacedBlocks& operator=(const PlacedBlocks&) = delete;

  const std::string& component() const { return name_; }
  rt::Placement mode() const { return mode_; }
  int size() const { return static_cast<int>(block_bytes_.size()); }
  const std::vector<int64_t>& block_bytes() const { return block_bytes_; }
  int64_t fixed_bytes() const { return fixed_bytes_; }
  // Device bytes held now: fixed + resident blocks.
  int64_t held_bytes() const;
  // What a call with `working` activation bytes and `later` bytes needed after it asks for.
  ComponentDemand demand(int64_t working, int64_t later) const;

  // Plans the next call and applies the plan (uploads or frees an auto prefix). Throws
  // rt::VramBudgetError when the component cannot fit even fully streamed.
  rt::PlacementPlan plan(int64_t working, int64_t later);

  // One sweep over the blocks in order (usage: acquire(i) ... release(i) for i = 0..size-1, then
  // finish()). The views of acquire(i) are valid until release(i). A component with nothing to
  // stream allocates no ring.
  class Sweep {
   public:
    explicit Sweep(PlacedBlocks& blocks);
    const rt::BlockTensors& acquire(int i);
    void release(int i);
    void finish();  // records the streamed bytes and times in the stats; idempotent
   private:
    PlacedBlocks& owner_;
    std::optional<rt::BlockPass> pass_;
    bool finished_ = false;
  };

  proto::ComponentStats stats() const { return stats_; }
  const rt::PlacementPlan& last_plan() const { return plan_; }

 private:
  std::string name_;
  rt::Placement mode_;
  rt::DeviceBackend& be_;
  PlanLimits limits_;
  std::vector<rt::BlockTensors> resident_;  // kResident only
  std::unique_ptr<rt::BlockStore> store_;   // stream / auto
  std::vector<int64_t> block_bytes_;
  int64_t fixed_bytes_ = 0;
  rt::PlacementPlan plan_;
  proto::ComponentStats stats_;
  std::optional<rt::ScopedCharge> charge_;  // fixed bytes and kResident blocks (a store charges its prefix)
};

}  // namespace ff::engine
