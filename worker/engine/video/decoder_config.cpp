#include "worker/engine/video/decoder_config.hpp"

#include <stdexcept>

#include "worker/engine/video/json_fields.hpp"

namespace ff::video {

int64_t DecoderConfig::temporal_scale() const {
  int64_t s = 1;
  for (auto v : temporal_upsample) s *= v;
  return s;
}

int64_t DecoderConfig::spatial_scale() const {
  int64_t s = 1;
  for (auto v : spatial_upsample) s *= v;
  return s;
}

DecoderConfig decoder_config_from_json(const json::Value& section, const std::string& what) {
  const auto& o = fields::object(section, what);
  fields::reject_unknown(o, {"latent_channels", "block_out_channels", "temporal_upsample",
                             "spatial_upsample", "norm_eps"}, what);
  DecoderConfig c;
  fields::read(o, "latent_channels", c.latent_channels, what, true);
  fields::read(o, "block_out_channels", c.block_out_channels, what, true);
  fields::read(o, "temporal_upsample", c.temporal_upsample, what, true);
  fields::read(o, "spatial_upsample", c.spatial_upsample, what, true);
  fields::read(o, "norm_eps", c.norm_eps, what);
  if (c.latent_channels <= 0) throw std::invalid_argument(what + ": key 'latent_channels' must be positive");
  const size_t n = c.block_out_channels.size();
  if (n == 0) throw std::invalid_argument(what + ": key 'block_out_channels' must not be empty");
  if (c.temporal_upsample.size() != n || c.spatial_upsample.size() != n)
    throw std::invalid_argument(what + ": 'temporal_upsample' and 'spatial_upsample' need one entry per level (" +
                                std::to_string(n) + ")");
  for (size_t i = 0; i < n; ++i) {
    if (c.block_out_channels[i] <= 0 || c.temporal_upsample[i] <= 0 || c.spatial_upsample[i] <= 0)
      throw std::invalid_argument(what + ": channels and upsampling factors must be positive");
  }
  if (!(c.norm_eps > 0)) throw std::invalid_argument(what + ": key 'norm_eps' must be positive");
  return c;
}

json::Object decoder_config_to_json(const DecoderConfig& c) {
  auto arr = [](const std::vector<int64_t>& v) {
    json::Array a;
    for (auto x : v) a.emplace_back(static_cast<long long>(x));
    return json::Value(std::move(a));
  };
  return json::Object{{"latent_channels", static_cast<long long>(c.latent_channels)},
                      {"block_out_channels", arr(c.block_out_channels)},
                      {"temporal_upsample", arr(c.temporal_upsample)},
                      {"spatial_upsample", arr(c.spatial_upsample)},
                      {"norm_eps", c.norm_eps}};
}

}  // namespace ff::video
