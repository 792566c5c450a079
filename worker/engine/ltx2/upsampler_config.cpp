#include "worker/engine/ltx2/upsampler_config.hpp"

#include <stdexcept>

#include "common/json_fields.hpp"

namespace ff::ltx2 {

UpsamplerConfig upsampler_config_from_json(const json::Json& config, const std::string& what) {
  const json::Fields o(config, what);
  static const char* const kKnown[] = {"in_channels",       "mid_channels",      "num_blocks_per_stage",
                                       "dims",              "spatial_upsample",  "temporal_upsample",
                                       "spatial_scale",     "rational_resampler"};
  for (const auto& [k, v] : config.items()) {
    if (!k.empty() && k[0] == '_') continue;  // diffusers bookkeeping (_class_name, _diffusers_version)
    bool known = false;
    for (const char* n : kKnown) known = known || k == n;
    if (!known) json::fail(what, k, "is unknown to the LTX-2 latent upsampler");
  }
  if (const json::Json* cls = o.find("_class_name"); cls && *cls != "LatentUpsampler")
    json::fail(what, "_class_name", "must be \"LatentUpsampler\"");

  UpsamplerConfig c;
  int64_t dims = 3;
  double scale = 2.0;
  o.optional("in_channels", c.in_channels);
  o.optional("mid_channels", c.mid_channels);
  o.optional("num_blocks_per_stage", c.num_blocks_per_stage);
  o.optional("dims", dims);
  o.optional("spatial_scale", scale);
  const bool spatial = o.get_or<bool>("spatial_upsample", true);
  const bool temporal = o.get_or<bool>("temporal_upsample", false);
  c.rational_resampler = o.get_or<bool>("rational_resampler", false);

  if (c.in_channels <= 0) json::fail(what, "in_channels", "must be positive");
  if (c.mid_channels <= 0 || c.mid_channels % 32 != 0)
    json::fail(what, "mid_channels", "must be a positive multiple of 32 (GroupNorm with 32 groups), got " +
                                     std::to_string(c.mid_channels));
  if (c.num_blocks_per_stage < 0) json::fail(what, "num_blocks_per_stage", "must not be negative");
  if (dims != 3) json::fail(what, "dims", "must be 3 (only the 3-D upsampler is implemented), got " + std::to_string(dims));
  if (temporal) json::fail(what, "temporal_upsample", "must be false (temporal upsampling is not implemented)");
  if (!spatial) json::fail(what, "spatial_upsample", "must be true (only the spatial upsampler is implemented)");
  if (scale != 2.0) json::fail(what, "spatial_scale", "must be 2.0 (only x2 is implemented), got " + std::to_string(scale));
  return c;
}

json::Json upsampler_config_to_json(const UpsamplerConfig& c) {
  return json::Json{{"_class_name", "LatentUpsampler"},
                    {"in_channels", c.in_channels},
                    {"mid_channels", c.mid_channels},
                    {"num_blocks_per_stage", c.num_blocks_per_stage},
                    {"dims", 3},
                    {"spatial_upsample", true},
                    {"temporal_upsample", false},
                    {"spatial_scale", 2.0},
                    {"rational_resampler", c.rational_resampler}};
}

}  // namespace ff::ltx2
