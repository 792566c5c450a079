// LTX-2.3's multi-modal guidance (ltx-core components/guiders.py MultiModalGuider, constant
// params) and which transformer passes a step needs (ltx-pipelines utils/denoisers.py
// _guided_denoise).
//
// The guider combines the denoised (x0) predictions of up to four passes of the SAME step:
//   cond      positive contexts, no perturbation
//   uncond    negative contexts                       (needed when cfg_scale != 1)
//   perturbed STG: self-attention skipped in stg_blocks (needed when stg_scale != 0)
//   isolated  A2V and V2A skipped in every block       (needed when modality_scale != 1)
// pred = c + (cfg-1)(c-u) + stg(c-p) + (mod-1)(c-m), in float32; then, when rescale_scale r != 0,
// pred *= r * std(c) / std(pred) + (1 - r) with std over the WHOLE tensor (all tokens, channels,
// batch). A pass that did not run enters as 0 (as in ltx-core). Result in cond's dtype.
// Stateless; any thread; any device.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace ff::ltx2 {

// ltx-core MultiModalGuiderParams (its defaults: no guidance).
struct GuiderParams {
  double cfg_scale = 1.0;
  double stg_scale = 0.0;
  double modality_scale = 1.0;
  double rescale_scale = 0.0;
  int64_t skip_step = 0;             // 0: never; k: reuse the last prediction unless step % (k+1) == 0
  std::vector<int64_t> stg_blocks;   // blocks whose self-attention the STG pass skips (empty: none)

  // math.isclose(x, y) with Python's defaults (rel_tol 1e-9, abs_tol 0), as ltx-core decides.
  bool needs_uncond() const;     // cfg_scale not close to 1
  bool needs_perturbed() const;  // stg_scale not close to 0 (i.e. != 0)
  bool needs_isolated() const;   // modality_scale not close to 1
  bool skips_step(int64_t step) const;

  // Throws std::invalid_argument naming `what` and the field: non-finite scales, skip_step < 0,
  // a negative STG block, or (num_layers > 0) an STG block >= num_layers.
  void validate(const std::string& what, int64_t num_layers = 0) const;
};

// MultiModalGuider.calculate. cond [B, N, C] (any float dtype); uncond / perturbed / isolated of
// cond's shape, or undefined for a pass that did not run. Computed in float32, returned in
// cond's dtype.
at::Tensor guide(const GuiderParams& params, const at::Tensor& cond, const at::Tensor& uncond,
                 const at::Tensor& perturbed, const at::Tensor& isolated);

// The passes of one guided step, in ltx-core's order; cond is always first.
enum class PassKind { kCond, kUncond, kPerturbed, kIsolated };
const char* pass_kind_name(PassKind kind);
// uncond if either modality needs it, perturbed if either needs STG, isolated if either needs it.
std::vector<PassKind> plan_passes(const GuiderParams& video, const GuiderParams& audio);

}  // namespace ff::ltx2
