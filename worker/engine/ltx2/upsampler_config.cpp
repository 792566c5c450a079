#include "worker/engine/ltx2/upsampler_config.hpp"

#include <stdexcept>

#include "worker/engine/layers/json_fields.hpp"

namespace ff::ltx2 {
namespace {

[[noreturn]] void refuse(const std::string& what, const std::string& key, const std::string& msg) {
  throw std::invalid_argument(what + ": key '" + key + "' " + msg);
}

// A JSON bool member, or `fallback` when absent.
bool read_bool(const json::Object& o, const std::string& key, bool fallback, const std::string& what) {
  const json::Value* v = o.find(key);
  if (!v) return fallback;
  if (!v->is_bool()) refuse(what, key, std::string("must be a bool, got ") + v->type_name());
  return v->as_bool();
}

}  // namespace

UpsamplerConfig upsampler_config_from_json(const json::Value& config, const std::string& what) {
  const auto& o = layers::fields::object(config, what);
  static const char* const kKnown[] = {"in_channels",       "mid_channels",      "num_blocks_per_stage",
                                       "dims",              "spatial_upsample",  "temporal_upsample",
                                       "spatial_scale",     "rational_resampler"};
  for (const auto& [k, v] : o) {
    if (!k.empty() && k[0] == '_') continue;
    bool known = false;
    for (const char* n : kKnown) known = known || k == n;
    if (!known) refuse(what, k, "is unknown to the LTX-2 latent upsampler");
  }
  if (const json::Value* cls = o.find("_class_name")) {
    if (!cls->is_string() || cls->as_string() != "LatentUpsampler")
      refuse(what, "_class_name", "must be \"LatentUpsampler\"");
  }

  UpsamplerConfig c;
  int64_t dims = 3;
  double scale = 2.0;
  layers::fields::read(o, "in_channels", c.in_channels, what);
  layers::fields::read(o, "mid_channels", c.mid_channels, what);
  layers::fields::read(o, "num_blocks_per_stage", c.num_blocks_per_stage, what);
  layers::fields::read(o, "dims", dims, what);
  layers::fields::read(o, "spatial_scale", scale, what);
  const bool spatial = read_bool(o, "spatial_upsample", true, what);
  const bool temporal = read_bool(o, "temporal_upsample", false, what);
  c.rational_resampler = read_bool(o, "rational_resampler", false, what);

  if (c.in_channels <= 0) refuse(what, "in_channels", "must be positive");
  if (c.mid_channels <= 0 || c.mid_channels % 32 != 0)
    refuse(what, "mid_channels", "must be a positive multiple of 32 (GroupNorm with 32 groups), got " +
                                     std::to_string(c.mid_channels));
  if (c.num_blocks_per_stage < 0) refuse(what, "num_blocks_per_stage", "must not be negative");
  if (dims != 3) refuse(what, "dims", "must be 3 (only the 3-D upsampler is implemented), got " + std::to_string(dims));
  if (temporal) refuse(what, "temporal_upsample", "must be false (temporal upsampling is not implemented)");
  if (!spatial) refuse(what, "spatial_upsample", "must be true (only the spatial upsampler is implemented)");
  if (scale != 2.0) refuse(what, "spatial_scale", "must be 2.0 (only x2 is implemented), got " + std::to_string(scale));
  return c;
}

json::Object upsampler_config_to_json(const UpsamplerConfig& c) {
  return json::Object{{"_class_name", std::string("LatentUpsampler")},
                      {"in_channels", static_cast<long long>(c.in_channels)},
                      {"mid_channels", static_cast<long long>(c.mid_channels)},
                      {"num_blocks_per_stage", static_cast<long long>(c.num_blocks_per_stage)},
                      {"dims", 3LL},
                      {"spatial_upsample", true},
                      {"temporal_upsample", false},
                      {"spatial_scale", 2.0},
                      {"rational_resampler", c.rational_resampler}};
}

}  // namespace ff::ltx2
