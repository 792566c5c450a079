// The two stage transformers ("stage1_transformer", "stage2_transformer") under their configured
// placement:
//   resident: every weight on the device (loaded there); video::resident_velocity.
//   stream:   the blocks are copied once, at construction, into one host slab per stage
//             (rt::BlockStore, pinned on CUDA); the globals stay resident; every velocity
//             evaluation streams all blocks through a ring of GPU slots (video::streamed_velocity).
//   auto:     as stream, but per job the plan keeps the longest prefix of blocks that fits the
//             budget resident (all of them when everything fits; rt::plan_placement).
// A streamed/auto stage holds no resident copy of its blocks beyond the planned prefix.
// Per-component stats (plan, resident/pinned bytes, streamed bytes, copy and stall time) live here.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/protocol.hpp"
#include "worker/engine/app/block_planning.hpp"
#include "worker/engine/app/video_models.hpp"
#include "worker/engine/app/video_placement.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"
#include "worker/engine/video/sampler.hpp"

namespace ff::engine {

// What a stage's plan depends on in a job.
struct StageJob {
  video::StageGrids grids;
  int64_t context_rows = 0;  // the longest context (positive or negative)
  // Device bytes the decode phase needs beyond what the decoder holds (its ring and working set
  // when it streams; PlacedDecoder::min_extra_bytes): stage 2's plan leaves them free.
  int64_t decode_extra_bytes = 0;
};

class TransformerStages {
 public:
  // Takes over models.stage1 / models.stage2 (which must outlive this): a streamed or auto
  // stage's blocks move into its BlockStore (the model's block vector is emptied) and its globals
  // move to the device; a resident stage's weights must already be on the device. Charges the
  // device bytes it keeps to the backend's meter. `backend` must outlive this. Engine thread.
  TransformerStages(VideoModels& models, rt::DeviceBackend& backend, StagePlacementOptions options);
  TransformerStages(const TransformerStages&) = delete;
  TransformerStages& operator=(const TransformerStages&) = delete;

  // The velocity of `stage` (1 or 2) for this job, planned now from the budget and live free
  // memory (uploads or frees resident blocks of an auto stage). The returned function holds the
  // stage's working-set charge while it lives and must not outlive this object. Throws
  // encode::VramBudgetError when a streamed/auto stage cannot fit even fully streamed,
  // rt::OutOfMemory when the working set cannot be charged. Engine thread.
  video::VelocityFn velocity(int stage, const StageJob& job);

  // Cumulative stats by component name (peak_vram_bytes left 0: the job phases measure it).
  std::map<std::string, proto::ComponentStats> stats() const;
  rt::Placement placement(int stage) const { return get(stage).mode; }
  // The plan of the stage's last velocity() call (default-constructed before the first).
  const rt::PlacementPlan& last_plan(int stage) const { return get(stage).plan; }
  // The stage's block store; nullptr for a resident stage.
  const rt::BlockStore* store(int stage) const { return get(stage).store.get(); }
  // Device bytes held for weights now: fixed bytes plus resident prefixes.
  int64_t device_weight_bytes() const;

 private:
  struct Stage {
    std::string name;
    video::StageModel* model = nullptr;
    rt::Placement mode = rt::Placement::kResident;
    std::unique_ptr<rt::BlockStore> store;  // stream/auto only
    int64_t globals_bytes = 0;              // non-block weights, always on the device
    std::vector<int64_t> block_bytes;       // per block, in compute order
    rt::PlacementPlan plan;
    proto::ComponentStats stats;
  };
  const Stage& get(int stage) const;
  Stage& get(int stage) { return const_cast<Stage&>(static_cast<const TransformerStages*>(this)->get(stage)); }
  // Device bytes of the stage's blocks that are resident now.
  int64_t resident_block_bytes(const Stage& s) const;
  // The stage's demand in a call with `working` activations and `later` bytes needed after it.
  ComponentDemand demand(const Stage& s, int64_t working, int64_t later) const;
  int64_t working_bytes(const Stage& s, const video::LatentGrid& grid, int64_t context_rows) const;

  rt::DeviceBackend& be_;
  StagePlacementOptions opts_;
  std::array<Stage, 2> stages_;
  std::optional<rt::ScopedCharge> fixed_charge_;  // globals, and whole resident stages
};

}  // namespace ff::engine
