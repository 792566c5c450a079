// A pipelines.hpp DenoiseFn over resident transformer weights (ltx-core X0Model's velocity model
// behind BatchSplitAdapter(max_batch_size=1): every pass is a batch-1 forward).
//
// Work shared between the passes of a step: passes whose contexts are the cond pass's (same
// tensors) share av_prepare and every block before their first perturbed block (the STG pass
// starts from the cond pass's state at its first skipped block). Results are the same numbers as
// independent forwards (the step API is deterministic and never writes into a state's tensors).
// The weights and config must outlive the returned function. Threads: as pipelines.hpp.
#pragma once

#include "worker/engine/ltx2/av_transformer.hpp"
#include "worker/engine/ltx2/pipelines.hpp"

namespace ff::ltx2 {

// The first block a pass perturbs (num_layers when none).
int64_t first_perturbed_block(const PassConfig& pass, int64_t num_layers);

DenoiseFn resident_denoiser(const AVTransformerWeights& weights, const AVTransformerConfig& config);

}  // namespace ff::ltx2
