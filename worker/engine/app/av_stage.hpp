// A stage transformer ("stage1_transformer", "stage2_transformer"): LTX-2.3's audio-video
// transformer under its placement. The globals stay on the device; the blocks are a PlacedBlocks
// (resident, stream or auto). One call evaluates ALL passes of a denoising step (conditional,
// unconditional, STG, modality-isolated) in a single sweep over the blocks, so a streamed block
// crosses the host link once per step rather than once per pass, and a pass that equals another
// up to block k (the STG pass equals the conditional one below its perturbed block) starts from
// that pass's state at block k instead of recomputing the prefix. Results are the same as running
// each pass alone (the math is ltx2::av_block_forward in the same order).
//
// Stage 2 of two_stages can share stage 1's blocks: a LoRA-delta stage (make_lora_delta) keeps
// only the low-rank factors, in its own PlacedBlocks (placed like any component), and attaches
// them to each of stage 1's blocks as it passes (x W^T + s (x A^T) B^T).
// Engine thread only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/protocol.hpp"
#include "worker/engine/app/placed_blocks.hpp"
#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/lora.hpp"

namespace ff::engine {

// One pass of a step. fork_of >= 0: this pass's inputs equal pass fork_of's and its perturbations
// start at block fork_block, so its state is pass fork_of's state before that block.
struct AVPass {
  ltx2::ModalityInput video, audio;
  ltx2::PassConfig config;
  int fork_of = -1;
  int64_t fork_block = 0;
};

class AVStage {
 public:
  // `weights`: host tensors for stream/auto (their blocks are copied into the store), device
  // tensors for resident. Globals are moved to the device. `backend` must outlive this.
  AVStage(std::string component, const ltx2::AVTransformerConfig& config, ltx2::AVTransformerWeights weights,
          rt::Placement mode, rt::DeviceBackend& backend, PlanLimits limits);

  // A stage over `base`'s blocks plus `lora` as an unfused delta of strength `strength`; the
  // factors (in `dtype`) are placed by `mode` under `component`. `base` must outlive the result.
  static std::unique_ptr<AVStage> lora_delta(std::string component, AVStage& base, const ltx2::Lora& lora,
                                             double strength, at::ScalarType dtype, rt::Placement mode,
                                             rt::DeviceBackend& backend, PlanLimits limits);

  const ltx2::AVTransformerConfig& config() const { return config_; }
  const std::string& component() const { return name_; }

  // Plans this stage's next calls (and its delta's) for `working` activation bytes, leaving
  // `later` free. Throws rt::VramBudgetError when it cannot fit even streamed.
  void plan(int64_t working, int64_t later);
  // The fewest device bytes this stage needs beyond what it holds now, with `working` activations.
  int64_t min_extra_bytes(int64_t working) const;

  // Velocities of every pass, in order. Inputs on the device, in the compute dtype.
  std::vector<ltx2::AVVelocity> evaluate(const std::vector<AVPass>& passes);

  // Activation bytes of a call with `passes` passes over the given token counts.
  int64_t working_bytes(int64_t video_tokens, int64_t audio_tokens, int64_t context_rows, int64_t passes,
                        int64_t elem_bytes, bool attention_stores_scores) const;

  proto::ComponentStats stats() const;
  // Device bytes of this stage's own weights (globals, resident blocks or delta factors).
  int64_t device_bytes() const;

 private:
  AVStage(std::string component, const ltx2::AVTransformerConfig& config, rt::DeviceBackend& backend);

  std::string name_;
  ltx2::AVTransformerConfig config_;
  rt::DeviceBackend& be_;
  ltx2::AVGlobals globals_;              // on the device (a LoRA stage: base's, deltas attached)
  std::unique_ptr<PlacedBlocks> blocks_; // own blocks; null for a LoRA stage
  AVStage* base_ = nullptr;              // LoRA stage: whose blocks it runs
  std::unique_ptr<PlacedBlocks> delta_;  // LoRA stage: per block "<linear>.lora_A" / ".lora_B"
  double delta_strength_ = 0.0;
  int64_t globals_bytes_ = 0;
};

}  // namespace ff::engine
