// A component whose forward runs as stages (ltx2/stage_hooks.hpp) under its placement: the spatial
// upsampler, the audio decoder and the vocoder. One generic wrapper serves them all:
//   - every weight of the component is a slot (name, shape, where its forward reads it) of the
//     component's weight struct; the slots a stage's name prefixes match are that stage's block,
//     the others ("fixed": statistics, STFT bases) are moved to the device for the engine's life;
//   - the blocks are a PlacedBlocks, one block per stage, in execution order: resident, stream (one
//     pinned host slab; each forward streams the stages through the GPU slot ring) or auto (the
//     longest prefix that fits resident, planned per call);
//   - run() gives the forward hooks that bind stage i's tensors (the resident ones, or views of a
//     GPU slot) into the struct just before the stage and unbind them after it, so the struct holds
//     a streamed stage's weights only while the stage runs.
// The forward computes exactly what it computes over resident weights: same tensors, same ops, so
// every placement gives the same result bit for bit (tests/worker/engine/app). Engine thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>

#include "common/protocol.hpp"
#include "worker/engine/app/placed_blocks.hpp"
#include "worker/engine/layers/weight_spec.hpp"
#include "worker/engine/ltx2/stage_hooks.hpp"

namespace ff::engine {

class PlacedStages {
 public:
  // `slots`: every weight of the component; their targets are where the forward reads the tensors
  // and must stay valid for this object's life. `stage_prefixes[i]`: the name prefixes of stage i's
  // weights (each slot in at most one stage; every stage must own a weight). `fetch` loads a slot:
  // host tensors for stream/auto (copied once into the pinned slab, then dropped), any device for
  // resident (moved to the backend's device). Throws what `fetch` throws, or std::logic_error when
  // the prefixes do not partition the stages' weights.
  PlacedStages(std::string component, rt::Placement mode, const std::vector<layers::WeightSlot>& slots,
               const std::vector<std::vector<std::string>>& stage_prefixes, const layers::TensorFetch& fetch,
               rt::DeviceBackend& backend, PlanLimits limits);
  PlacedStages(const PlacedStages&) = delete;
  PlacedStages& operator=(const PlacedStages&) = delete;

  // Plans the next forward for `working` activation bytes, with `later` bytes needed after it while
  // the resident part stays; throws rt::VramBudgetError when it cannot fit even streamed.
  void plan(int64_t working, int64_t later) { blocks_->plan(working, later); }
  // Runs `forward` (which must run every stage once, in order, through the hooks it is given) over
  // one sweep of the blocks; returns its result.
  at::Tensor run(const std::function<at::Tensor(const ltx2::StageHooks&)>& forward);

  const PlacedBlocks& blocks() const { return *blocks_; }
  proto::ComponentStats stats() const { return blocks_->stats(); }

 private:
  using Bindings = std::vector<std::pair<std::string, at::Tensor*>>;
  std::vector<Bindings> bindings_;  // per stage: (name, target in the component's struct)
  std::unique_ptr<PlacedBlocks> blocks_;
};

// A model struct ({config, weights}, e.g. ltx2::VocoderModel) with its stage weights placed. The
// struct holds the config and the fixed weights; the stage weights are there only inside run().
// Not movable: the bindings point into the struct.
template <class Model>
class PlacedModel {
 public:
  // `skeleton`: the config, weights empty. `slots_of(weights, config)` lists the weight slots.
  template <class SlotsOf>
  PlacedModel(std::string component, Model skeleton, SlotsOf slots_of,
              const std::vector<std::vector<std::string>>& stage_prefixes, const layers::TensorFetch& fetch,
              rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits)
      : model_(std::move(skeleton)),
        stages_(std::move(component), mode, slots_of(model_.weights, model_.config), stage_prefixes, fetch, backend,
                limits) {}
  PlacedModel(const PlacedModel&) = delete;
  PlacedModel& operator=(const PlacedModel&) = delete;

  // forward(const Model&, const ltx2::StageHooks&) -> at::Tensor, e.g. ltx2::vocode.
  template <class Forward>
  at::Tensor run(Forward&& forward) {
    return stages_.run([&](const ltx2::StageHooks& hooks) { return forward(model_, hooks); });
  }
  const Model& model() const { return model_; }
  PlacedStages& stages() { return stages_; }
  const PlacedStages& stages() const { return stages_; }

 private:
  Model model_;
  PlacedStages stages_;
};

}  // namespace ff::engine
