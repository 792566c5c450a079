// The latent decoder ("vae_decoder") under its configured placement; one block per level:
//   resident: every weight on the device (loaded there); video::decode_latent, as before.
//   stream:   the levels are copied once, at construction, into one host slab (rt::BlockStore,
//             pinned on CUDA); the latent statistics, conv_in and conv_out stay resident; every
//             decode streams all levels through a ring of GPU slots (video::streamed_decode_latent).
//   auto:     as stream, but per decode the plan keeps the longest prefix of levels that fits the
//             budget resident (all of them when everything fits; rt::plan_placement).
// A streamed/auto decoder holds no device copy of its levels beyond the planned prefix.
// Its per-component stats (plan, resident/pinned bytes, streamed bytes, copy and stall time) live here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <ATen/ATen.h>

#include "common/protocol.hpp"
#include "worker/engine/app/block_planning.hpp"
#include "worker/engine/app/video_models.hpp"
#include "worker/engine/app/video_placement.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"

namespace ff::engine {

inline constexpr const char* kDecoderComponent = "vae_decoder";

class PlacedDecoder {
 public:
  // Takes over models.decoder (models must outlive this): a stream/auto decoder's levels move into
  // its BlockStore (models.decoder.levels is emptied) and its other weights move to the device; a
  // resident decoder's weights must already be on the device. Charges the device bytes it keeps
  // to the backend's meter. Uses options.decoder and the planning limits. `backend` must outlive
  // this. Engine thread.
  PlacedDecoder(VideoModels& models, rt::DeviceBackend& backend, StagePlacementOptions options);
  PlacedDecoder(const PlacedDecoder&) = delete;
  PlacedDecoder& operator=(const PlacedDecoder&) = delete;

  // Decodes latent [1, C, F, H, W] to frames [F', H', W', 3] uint8 on the CPU. A stream/auto
  // decoder is planned now from the budget and live free memory (an auto one uploads or frees
  // resident levels) and charges its working set while it decodes. Throws
  // encode::VramBudgetError when it cannot fit even fully streamed, rt::OutOfMemory when the
  // working set cannot be charged, std::invalid_argument for a bad latent. Engine thread.
  at::Tensor decode(const at::Tensor& latent);

  // The fewest device bytes a decode of a latent [1, C, frames, height, width] needs beyond what
  // the decoder holds now (ring and working set of a stream/auto decoder; 0 when resident, whose
  // activations are not budgeted). Any thread that is not decoding.
  int64_t min_extra_bytes(int64_t frames, int64_t height, int64_t width) const;

  // Cumulative stats (peak_vram_bytes left 0: the job phases measure it).
  const proto::ComponentStats& stats() const { return stats_; }
  rt::Placement placement() const { return mode_; }
  // The plan of the last decode() of a stream/auto decoder (default-constructed before it).
  const rt::PlacementPlan& last_plan() const { return plan_; }
  // The level store; nullptr for a resident decoder.
  const rt::BlockStore* store() const { return store_.get(); }
  // Device bytes held for weights now: fixed weights plus resident levels.
  int64_t device_weight_bytes() const;

 private:
  // The demand of a stream/auto decode of a latent of these dims.
  ComponentDemand demand(int64_t frames, int64_t height, int64_t width) const;

  VideoModels& models_;
  rt::DeviceBackend& be_;
  StagePlacementOptions opts_;
  rt::Placement mode_;
  std::unique_ptr<rt::BlockStore> store_;  // stream/auto only
  int64_t fixed_bytes_ = 0;                // statistics, conv_in, conv_out
  std::vector<int64_t> level_bytes_;       // per level, in compute order
  rt::PlacementPlan plan_;
  proto::ComponentStats stats_;
  std::optional<rt::ScopedCharge> fixed_charge_;  // fixed weights, and a whole resident decoder
};

}  // namespace ff::engine
