#include "common/job_params.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <vector>

namespace ff::params {
namespace {

using P = proto::JobParams;

constexpr std::string_view kResolutionReason =
    "stage 1 runs at half size on 32-px latent cells";
constexpr std::string_view kFramesReason = "the video VAE encodes 1 + 8k frames";

// The table. Order = the order of `submit --help`. Ranges are this farm's policy; the step
// rules are the reference's (ltx-pipelines helpers.assert_resolution for two-stage pipelines,
// the 8x temporal VAE for frames).
const std::array<ParamSpec, 17> kParamSpecs = {{
    {"width", "width", Kind::kInteger, "64", "4096", 64, 0, kResolutionReason, "",
     "output width in pixels", &P::width},
    {"height", "height", Kind::kInteger, "64", "4096", 64, 0, kResolutionReason, "",
     "output height in pixels", &P::height},
    {"num_frames", "frames", Kind::kInteger, "1", "1025", 8, 1, kFramesReason, "",
     "frames of the output video", &P::num_frames},
    {"frame_rate", "fps", Kind::kInteger, "1", "240", 0, 0, "", "",
     "frames per second (also sets the audio length)", &P::frame_rate},
    {"num_inference_steps", "steps", Kind::kInteger, "1", "500", 0, 0, "", "",
     "stage-1 denoising steps", &P::num_inference_steps},
    {"seed", "seed", Kind::kInteger, "0", "9223372036854775807", 0, 0, "", "",
     "noise seed", &P::seed},
    {"video_cfg", "video-cfg", Kind::kNumber, "0", "100", 0, 0, "", "",
     "video classifier-free guidance scale (1 = off)", &P::video_cfg},
    {"video_stg", "video-stg", Kind::kNumber, "0", "100", 0, 0, "", "",
     "video spatio-temporal guidance scale (0 = off)", &P::video_stg},
    {"video_modality", "video-modality", Kind::kNumber, "0", "100", 0, 0, "", "",
     "video modality guidance scale (1 = off)", &P::video_modality},
    {"video_rescale", "video-rescale", Kind::kNumber, "0", "1", 0, 0, "", "",
     "video guidance rescale toward the conditional std (0 = off)", &P::video_rescale},
    {"audio_cfg", "audio-cfg", Kind::kNumber, "0", "100", 0, 0, "", "",
     "audio classifier-free guidance scale (1 = off)", &P::audio_cfg},
    {"audio_stg", "audio-stg", Kind::kNumber, "0", "100", 0, 0, "", "",
     "audio spatio-temporal guidance scale (0 = off)", &P::audio_stg},
    {"audio_modality", "audio-modality", Kind::kNumber, "0", "100", 0, 0, "", "",
     "audio modality guidance scale (1 = off)", &P::audio_modality},
    {"audio_rescale", "audio-rescale", Kind::kNumber, "0", "1", 0, 0, "", "",
     "audio guidance rescale toward the conditional std (0 = off)", &P::audio_rescale},
    // The MP4 (schema/004_media_params.sql): x264's quality and speed, and the AAC track.
    {"crf", "crf", Kind::kInteger, "0", "51", 0, 0, "", "",
     "H.264 constant rate factor of the MP4 (lower = better, larger)", &P::crf},
    {"preset", "preset", Kind::kString, "", "", 0, 0, "",
     "ultrafast, superfast, veryfast, faster, fast, medium, slow, slower, veryslow",
     "x264 speed preset of the MP4 (slower = smaller at the same quality)", &P::preset},
    {"audio", "audio", Kind::kBoolean, "", "", 0, 0, "", "",
     "whether the MP4 carries the generated audio (AAC 48 kHz stereo)", &P::audio},
}};

int64_t parse_i64(std::string_view s) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    throw std::logic_error("job_params: bad integer bound '" + std::string(s) + "'");
  return v;
}

double parse_f64(std::string_view s) {
  double v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size())
    throw std::logic_error("job_params: bad number bound '" + std::string(s) + "'");
  return v;
}

// An integral JSON number as int64; nullopt when it lies outside int64 (out of every range).
std::optional<int64_t> integral_value(const json::Json& v) {
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_integer()) return v.get<int64_t>();
  const double d = v.get<double>();
  if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0)) return std::nullopt;
  return static_cast<int64_t>(d);
}

}  // namespace

std::string_view kind_name(Kind k) {
  switch (k) {
    case Kind::kInteger: return "integer";
    case Kind::kNumber: return "number";
    case Kind::kBoolean: return "boolean";
    case Kind::kString: return "string";
  }
  return "?";
}

std::span<const ParamSpec> specs() { return kParamSpecs; }

const ParamSpec* find(std::string_view key) {
  for (const auto& s : kParamSpecs)
    if (s.key == key) return &s;
  return nullptr;
}

std::string allowed_keys() {
  std::vector<std::string_view> keys;
  for (const auto& s : kParamSpecs) keys.push_back(s.key);
  std::sort(keys.begin(), keys.end());
  std::string out;
  for (auto k : keys) out += (out.empty() ? "" : ", ") + std::string(k);
  return out;
}

std::string format_number(double v) {
  char buf[400];
  auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed);
  return std::string(buf, r.ptr);
}

std::string default_json(const ParamSpec& s) {
  static const P defaults{};
  return std::visit(
      [](auto m) -> std::string {
        const auto& x = defaults.*m;
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, bool>) return x ? "true" : "false";
        else if constexpr (std::is_same_v<T, double>) return format_number(x);
        else if constexpr (std::is_same_v<T, std::string>) return json::Json(x).dump();
        else return std::to_string(x);
      },
      s.member);
}

std::optional<std::string> check(const ParamSpec& s, const json::Json& v, std::string_view shown) {
  const std::string value = shown.empty() ? v.dump() : std::string(shown);
  const std::string name = "params." + std::string(s.key);
  const auto type_error = [&] {
    return name + " must be a JSON " + std::string(kind_name(s.kind)) + ", got " + value;
  };
  const auto range_error = [&] {
    return name + " = " + value + " is out of range [" + std::string(s.min) + ", " + std::string(s.max) + "]";
  };
  switch (s.kind) {
    case Kind::kBoolean:
      if (!v.is_boolean()) return type_error();
      return std::nullopt;
    case Kind::kString: {
      if (!v.is_string()) return type_error();
      if (s.choices.empty()) return std::nullopt;
      std::string_view rest = s.choices;
      while (!rest.empty()) {
        auto comma = rest.find(", ");
        if (rest.substr(0, comma) == v.get<std::string>()) return std::nullopt;
        rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 2);
      }
      return name + " = " + value + " is not one of " + std::string(s.choices);
    }
    case Kind::kNumber: {
      if (!v.is_number()) return type_error();
      const double d = v.get<double>();
      if (d < parse_f64(s.min) || d > parse_f64(s.max)) return range_error();
      return std::nullopt;
    }
    case Kind::kInteger: {
      if (!v.is_number()) return type_error();
      // Integral doubles (1536.0) are integers, as in PostgreSQL's numeric comparison.
      if (v.is_number_float() && std::trunc(v.get<double>()) != v.get<double>()) return type_error();
      const auto x = integral_value(v);
      if (!x || *x < parse_i64(s.min) || *x > parse_i64(s.max)) return range_error();
      if (s.step > 0 && (*x - s.step_offset) % s.step != 0) {
        std::string rule = s.step_offset == 0
                               ? "a multiple of " + std::to_string(s.step)
                               : std::to_string(s.step) + "k+" + std::to_string(s.step_offset);
        std::string msg = name + " = " + value + " must be " + rule + " (e.g. " + default_json(s) + ")";
        if (!s.step_reason.empty()) msg += ": " + std::string(s.step_reason);
        return msg;
      }
      return std::nullopt;
    }
  }
  return type_error();
}

std::optional<std::string> check_object(const json::Json& params) {
  if (!params.is_object()) return "params must be a JSON object, got " + params.dump();
  for (const auto& [k, v] : params.items()) {
    const ParamSpec* s = find(k);
    if (!s) return "unknown key \"" + k + "\" in params (allowed: " + allowed_keys() + ")";
    if (auto e = check(*s, v)) return e;
  }
  return std::nullopt;
}

json::Json flag_value(const ParamSpec& s, const std::string& text) {
  if (s.kind == Kind::kString) return text;
  json::Json v = json::Json::parse(text, nullptr, false);
  if (v.is_discarded() || v.is_array() || v.is_object() || v.is_null()) return text;
  return v;
}

proto::JobParams decode(std::string_view params_json) {
  const json::Json v = json::parse(params_json, "params");  // json::Error is an invalid_argument
  if (auto e = check_object(v)) throw std::invalid_argument(*e);
  P p;
  for (const auto& [k, x] : v.items()) {
    std::visit(
        [&p, &x](auto m) {
          auto& dst = p.*m;
          using T = std::decay_t<decltype(dst)>;
          if constexpr (std::is_same_v<T, bool>) dst = x.template get<bool>();
          else if constexpr (std::is_same_v<T, double>) dst = x.template get<double>();
          else if constexpr (std::is_same_v<T, std::string>) dst = x.template get<std::string>();
          else dst = static_cast<T>(*integral_value(x));
        },
        find(k)->member);
  }
  return p;
}

}  // namespace ff::params
