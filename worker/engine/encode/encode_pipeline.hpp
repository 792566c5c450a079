// The prompt-encoding pipeline: every cache-miss prompt of a call in ONE pass over the text
// encoder's blocks (resident, streamed, or a resident prefix + streamed rest), then one pass over
// the connector blocks.
//   - Prompts are sorted by length and cut into micro-batches; each is computed over a window of
//     its longest prompt (left padding, padded-layout positions), so results equal the padded
//     computation while only real tokens (and the window's few pads) are computed.
//   - Each block processes every micro-batch before the next block is brought in.
//   - Each hidden state is folded into the feature-extractor projections as soon as it exists
//     (its projection slice travels with the block), so activations do not grow with depth.
//   - Placement per call from the budget, reserve and live free memory; if the call does not fit,
//     the micro-batch halves (counted in ooms_avoided), and if one prompt does not fit either,
//     rt::VramBudgetError. Device out-of-memory errors are caught and handled the same way.
// Sources: encode_pipeline.cpp (planning and retries), encode_passes.cpp (the two device passes).
#pragma once

#include <ATen/ATen.h>

#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/protocol.hpp"
#include "worker/engine/encode/text_model_ops.hpp"
#include "worker/engine/runtime/block_store.hpp"
#include "worker/engine/runtime/device_backend.hpp"
#include "worker/engine/runtime/placement.hpp"
#include "worker/engine/runtime/stream_ops.hpp"

namespace ff::engine::encode {

// Weights of the two components, loaded once. Block stores hold the streamable blocks in their
// host slab; the fixed tensors (host) are uploaded once by the pipeline and stay resident.
struct EncoderWeights {
  at::Tensor embed_table;                        // host [vocab, hidden]: never sent whole
  std::unique_ptr<rt::BlockStore> text;          // block i: decoder layer i + projection slices of hidden state i+1
  rt::BlockTensors text_fixed;                   // final norm, slices of hidden state 0, projection biases
  std::unique_ptr<rt::BlockStore> connectors;    // video connector blocks, then audio ones
  rt::BlockTensors connector_fixed;              // registers and other non-block tensors
};

struct PipelineOptions {
  rt::Placement text_placement = rt::Placement::kAuto;       // component "text_encoder"
  rt::Placement processor_placement = rt::Placement::kAuto;  // component "embeddings_processor"
  int64_t budget_bytes = 0;   // 0: the device's (capped) memory
  int64_t reserve_bytes = 0;
  int max_micro_batch = 8;
  // Prompts per connector batch: the text micro-batches are merged (all share max_length) so each
  // connector block runs over up to this many prompts at once; halves when it does not fit.
  int max_connector_batch = 32;
  int slots = 3;
  bool trim_windows = true;  // false: compute every micro-batch at max_length (the padded reference layout)
  bool log_plans = true;      // one line per plan on stderr
};

// One prompt's result: contexts for all max_length rows (CPU, compute dtype). The tensors of one
// call are views into one host buffer per modality (pinned on CUDA), which lives as long as any
// of them does.
struct EncodedPrompt {
  int real_tokens = 0;
  at::Tensor video;  // [max_length, video_dim]
  at::Tensor audio;  // [max_length, audio_dim]
};

// What the last call did (for logs, stats and benchmarks).
struct CallReport {
  int prompts = 0;
  int micro_batch = 0;             // prompts per micro-batch finally used
  int micro_batches = 0;
  int64_t window_tokens = 0;       // tokens computed per layer (real + in-window pads)
  rt::PlacementPlan text_plan, processor_plan;
  rt::PassTimings text_pass, processor_pass;
  double text_seconds = 0;         // text-encoder phase, wall (device work included)
  double processor_seconds = 0;    // connectors + the contexts' copies to the host not hidden behind them
  int connector_batch = 0;         // prompts per connector batch finally used
  double total_seconds = 0;
  int64_t text_peak_bytes = 0, processor_peak_bytes = 0;
  int ooms_avoided = 0;            // in this call
};

class EncodePipeline {
 public:
  // Uploads the fixed weights. `backend` must outlive the pipeline. Engine thread.
  EncodePipeline(std::unique_ptr<TextModelOps> ops, EncoderWeights weights, rt::DeviceBackend& backend,
                 PipelineOptions options);
  ~EncodePipeline();

  // Encodes the prompts (token ids, BOS first, real tokens only) for a padded layout of
  // max_length. Throws std::invalid_argument for bad ids/lengths, rt::VramBudgetError when even one
  // prompt cannot fit. Engine thread.
  std::vector<EncodedPrompt> encode(const std::vector<std::vector<int32_t>>& prompts, int max_length);

  // Cumulative per-component stats ("text_encoder", "embeddings_processor").
  const std::map<std::string, proto::ComponentStats>& stats() const { return stats_; }
  int64_t ooms_avoided_total() const { return ooms_avoided_; }
  const CallReport& last_call() const { return last_; }
  const PipelineOptions& options() const { return opts_; }
  void set_options(const PipelineOptions& o) { opts_ = o; }
  const TextModelOps& ops() const { return *ops_; }
  EncoderWeights& weights() { return w_; }

 private:
  struct Batch;  // one micro-batch's device state
  // Device bytes the connector phase needs beyond what it holds already (its cheapest plan).
  int64_t processor_min_bytes(const std::vector<MicroBatch>& mbs) const;
  rt::PlacementPlan plan_for(rt::BlockStore& store, int64_t fixed_bytes, rt::Placement mode, int64_t working,
                             int64_t later = 0);
  std::vector<std::pair<at::Tensor, at::Tensor>> run_text(const std::vector<std::vector<int32_t>>& prompts,
                                                          std::vector<MicroBatch>& mbs, int max_length);
  // Receives connector batch b's contexts of modality m (0 video, 1 audio) on the device.
  using Deliver = std::function<void(int m, size_t b, const at::Tensor& contexts)>;
  // Runs both connectors over the features (consumed) and hands each finished result to deliver.
  void run_connectors(std::vector<std::pair<at::Tensor, at::Tensor>>& feats, const std::vector<MicroBatch>& mbs,
                      const Deliver& deliver);
  void log_plan(const std::string& component, const rt::PlacementPlan& plan) const;

  std::unique_ptr<TextModelOps> ops_;
  EncoderDims dims_;  // ops_->dims() plus what this device's kernels keep (working-set estimates)
  EncoderWeights w_;
  rt::DeviceBackend& be_;
  PipelineOptions opts_;
  rt::BlockTensors text_fixed_dev_, connector_fixed_dev_;
  int64_t text_fixed_bytes_ = 0, connector_fixed_bytes_ = 0;
  std::map<std::string, proto::ComponentStats> stats_;
  int64_t ooms_avoided_ = 0;
  CallReport last_;
};

}  // namespace ff::engine::encode
