#include "worker/engine/ltx2/schedulers.hpp"

#include <cmath>
#include <stdexcept>
#include <string>

namespace ff::ltx2 {
namespace {

// torch.linspace(start, end, n) in float32 as the reference's CPU kernel computes it: step in
// float, the first half counted up from start, the second half down from end, each value one fused
// multiply-add (the compiled kernel contracts start + step * i; measured: with two roundings the
// default 30-step schedule differs from ltx-core's at index 6 by 1.8e-7, with one it is exact).
std::vector<float> linspace_f32(float start, float end, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  if (n == 1) {
    out[0] = start;
    return out;
  }
  const float step = (end - start) / static_cast<float>(n - 1);
  const int64_t halfway = n / 2;
  for (int64_t i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = i < halfway ? std::fma(step, static_cast<float>(i), start)
                                              : std::fma(-step, static_cast<float>(n - i - 1), end);
  }
  return out;
}

}  // namespace

int64_t scheduler_tokens(const std::vector<int64_t>& shape) {
  if (shape.size() < 3) {
    throw std::invalid_argument("scheduler_tokens: the latent must be unpatchified [B, C, ...] with "
                                "at least 3 dims, got " + std::to_string(shape.size()));
  }
  int64_t tokens = 1;
  for (size_t i = 2; i < shape.size(); ++i) {
    if (shape[i] <= 0) throw std::invalid_argument("scheduler_tokens: latent dim " + std::to_string(i) + " is not positive");
    tokens *= shape[i];
  }
  return tokens;
}

std::vector<float> ltx2_sigmas(int64_t steps, std::optional<int64_t> tokens_opt,
                               const LTX2SchedulerOptions& o) {
  if (steps < 1) throw std::invalid_argument("ltx2_sigmas: steps must be >= 1, got " + std::to_string(steps));
  const int64_t tokens = tokens_opt.value_or(o.default_tokens);
  if (tokens < 1) throw std::invalid_argument("ltx2_sigmas: tokens must be >= 1, got " + std::to_string(tokens));

  // The shift is a Python float (double); the tensor arithmetic is float32 with the scalar cast
  // to float32. `a / tensor` is reciprocal(tensor) * a in torch, kept as such.
  const double mm = (o.max_shift - o.base_shift) / (4096.0 - 1024.0);
  const double b = o.base_shift - mm * 1024.0;
  const double shift = static_cast<double>(tokens) * mm + b;
  const float e = static_cast<float>(std::exp(shift));

  std::vector<float> s = linspace_f32(1.0f, 0.0f, steps + 1);
  for (float& v : s) {
    if (v == 0.0f) continue;
    const float denom = e + (1.0f / v - 1.0f);
    v = e * (1.0f / denom);
  }
  if (o.stretch) {
    float last_one_minus = 0.0f;
    bool any = false;
    for (float v : s) {
      if (v != 0.0f) {
        last_one_minus = 1.0f - v;
        any = true;
      }
    }
    if (any) {
      const float scale = last_one_minus / static_cast<float>(1.0 - o.terminal);
      for (float& v : s) {
        if (v != 0.0f) v = 1.0f - ((1.0f - v) / scale);
      }
    }
  }
  return s;
}

const std::vector<float>& distilled_sigmas() {
  static const std::vector<float> v{1.0f, 0.99375f, 0.9875f, 0.98125f, 0.975f, 0.909375f, 0.725f, 0.421875f, 0.0f};
  return v;
}

const std::vector<float>& stage2_sigmas() {
  static const std::vector<float> v{0.909375f, 0.725f, 0.421875f, 0.0f};
  return v;
}

}  // namespace ff::ltx2
