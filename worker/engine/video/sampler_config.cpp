#include "worker/engine/video/sampler_config.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "worker/engine/video/json_fields.hpp"

namespace ff::video {

SamplerConfig sampler_config_from_json(const json::Value& section, const std::string& what) {
  const auto& o = fields::object(section, what);
  fields::reject_unknown(o, {"base_shift", "max_shift", "base_tokens", "max_tokens", "stage2_sigmas"}, what);
  SamplerConfig c;
  fields::read(o, "base_shift", c.base_shift, what);
  fields::read(o, "max_shift", c.max_shift, what);
  fields::read(o, "base_tokens", c.base_tokens, what);
  fields::read(o, "max_tokens", c.max_tokens, what);
  fields::read(o, "stage2_sigmas", c.stage2_sigmas, what);
  if (c.base_tokens <= 0 || c.max_tokens <= c.base_tokens)
    throw std::invalid_argument(what + ": need 0 < base_tokens < max_tokens");
  const auto& s = c.stage2_sigmas;
  if (s.size() < 2 || s.back() != 0.0 || s.front() > 1.0)
    throw std::invalid_argument(what + ": key 'stage2_sigmas' must hold >= 2 values in (0, 1], ending with 0");
  for (size_t i = 1; i < s.size(); ++i)
    if (!(s[i] < s[i - 1]))
      throw std::invalid_argument(what + ": key 'stage2_sigmas' must be strictly decreasing");
  return c;
}

json::Object sampler_config_to_json(const SamplerConfig& c) {
  json::Array s;
  for (double v : c.stage2_sigmas) s.emplace_back(v);
  return json::Object{{"base_shift", c.base_shift},
                      {"max_shift", c.max_shift},
                      {"base_tokens", static_cast<long long>(c.base_tokens)},
                      {"max_tokens", static_cast<long long>(c.max_tokens)},
                      {"stage2_sigmas", json::Value(std::move(s))}};
}

std::vector<double> stage1_sigmas(int64_t steps, int64_t tokens, const SamplerConfig& c) {
  if (steps <= 0) throw std::invalid_argument("stage1_sigmas: steps must be positive");
  const double frac = std::clamp(double(tokens - c.base_tokens) / double(c.max_tokens - c.base_tokens), 0.0, 1.0);
  const double e_mu = std::exp(c.base_shift + frac * (c.max_shift - c.base_shift));
  std::vector<double> out;
  for (int64_t i = 0; i <= steps; ++i) {
    const double s = 1.0 - double(i) / double(steps);
    out.push_back(s <= 0.0 ? 0.0 : e_mu / (e_mu + (1.0 / s - 1.0)));
  }
  return out;
}

}  // namespace ff::video
