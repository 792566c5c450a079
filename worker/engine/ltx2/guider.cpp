#include "worker/engine/ltx2/guider.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace ff::ltx2 {
namespace {

bool isclose(double a, double b) {
  if (a == b) return true;
  if (!std::isfinite(a) || !std::isfinite(b)) return false;
  return std::fabs(a - b) <= 1e-9 * std::max(std::fabs(a), std::fabs(b));
}

// (cond - other) with a missing pass entering as 0.0, as ltx-core passes the float 0.0.
at::Tensor diff(const at::Tensor& cond_f, const at::Tensor& other) {
  if (!other.defined()) return cond_f;
  if (!other.sizes().equals(cond_f.sizes())) {
    throw std::invalid_argument("guide: a pass output has shape different from cond's");
  }
  return cond_f - other.to(at::kFloat);
}

}  // namespace

bool GuiderParams::needs_uncond() const { return !isclose(cfg_scale, 1.0); }
bool GuiderParams::needs_perturbed() const { return !isclose(stg_scale, 0.0); }
bool GuiderParams::needs_isolated() const { return !isclose(modality_scale, 1.0); }

bool GuiderParams::skips_step(int64_t step) const {
  if (skip_step == 0) return false;
  return step % (skip_step + 1) != 0;
}

void GuiderParams::validate(const std::string& what, int64_t num_layers) const {
  auto finite = [&](double v, const char* name) {
    if (!std::isfinite(v)) throw std::invalid_argument(what + "." + name + " must be finite");
  };
  finite(cfg_scale, "cfg_scale");
  finite(stg_scale, "stg_scale");
  finite(modality_scale, "modality_scale");
  finite(rescale_scale, "rescale_scale");
  if (skip_step < 0) throw std::invalid_argument(what + ".skip_step must be >= 0, got " + std::to_string(skip_step));
  for (int64_t b : stg_blocks) {
    if (b < 0 || (num_layers > 0 && b >= num_layers)) {
      throw std::invalid_argument(what + ".stg_blocks: block " + std::to_string(b) + " is outside [0, " +
                                  (num_layers > 0 ? std::to_string(num_layers) : std::string("layers")) + ")");
    }
  }
}

at::Tensor guide(const GuiderParams& p, const at::Tensor& cond, const at::Tensor& uncond,
                 const at::Tensor& perturbed, const at::Tensor& isolated) {
  if (!cond.defined()) throw std::invalid_argument("guide: cond is required");
  const at::Tensor c = cond.to(at::kFloat);
  at::Tensor pred = c + diff(c, uncond) * (p.cfg_scale - 1.0);
  pred = pred + diff(c, perturbed) * p.stg_scale;
  pred = pred + diff(c, isolated) * (p.modality_scale - 1.0);
  if (p.rescale_scale != 0.0) {
    at::Tensor factor = c.std(/*unbiased=*/true) / pred.std(/*unbiased=*/true);
    factor = factor * p.rescale_scale + (1.0 - p.rescale_scale);
    pred = pred * factor;
  }
  return pred.to(cond.scalar_type());
}

const char* pass_kind_name(PassKind kind) {
  switch (kind) {
    case PassKind::kCond: return "cond";
    case PassKind::kUncond: return "uncond";
    case PassKind::kPerturbed: return "perturbed";
    case PassKind::kIsolated: return "isolated";
  }
  return "?";
}

std::vector<PassKind> plan_passes(const GuiderParams& video, const GuiderParams& audio) {
  std::vector<PassKind> passes{PassKind::kCond};
  if (video.needs_uncond() || audio.needs_uncond()) passes.push_back(PassKind::kUncond);
  if (video.needs_perturbed() || audio.needs_perturbed()) passes.push_back(PassKind::kPerturbed);
  if (video.needs_isolated() || audio.needs_isolated()) passes.push_back(PassKind::kIsolated);
  return passes;
}

}  // namespace ff::ltx2
