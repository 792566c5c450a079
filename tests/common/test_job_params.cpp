// unit: common/job_params.hpp, the C++ table of job params. It agrees with proto::JobParams (the
// msgpack map holds exactly the table's keys, member types match the kinds), its defaults are
// the LTX-2.3 reference's, every rule rejects with the message the schema's trigger writes, and
// decode() turns a params JSON into JobParams. (Agreement with the schema: test_pg_params.)
#include <doctest/doctest.h>

#include <set>

#include "common/protocol_msgpack.hpp"  // JobParams as a raw msgpack map

#include "common/job_params.hpp"

namespace params = ff::params;
using Value = ff::json::Json;
using ff::proto::JobParams;

namespace {
const params::ParamSpec& spec(std::string_view key) {
  const auto* s = params::find(key);
  REQUIRE_MESSAGE(s != nullptr, key);
  return *s;
}
std::string msg(std::string_view key, const Value& v) { return params::check(spec(key), v).value_or("OK"); }
}  // namespace

TEST_CASE("the table and JobParams hold the same keys with matching kinds") {
  std::set<std::string> keys, flags;
  for (const auto& s : params::specs()) {
    CHECK_MESSAGE(keys.insert(std::string(s.key)).second, "duplicate key ", s.key);
    CHECK_MESSAGE(flags.insert(std::string(s.flag)).second, "duplicate flag ", s.flag);
    const bool numeric = s.kind == params::Kind::kInteger || s.kind == params::Kind::kNumber;
    CHECK_MESSAGE(numeric == !s.min.empty(), s.key);
    CHECK_MESSAGE(numeric == !s.max.empty(), s.key);
    if (s.step > 0) CHECK(s.kind == params::Kind::kInteger);
    if (!s.choices.empty()) CHECK(s.kind == params::Kind::kString);
    const size_t alt = s.member.index();  // int32, int64, double, bool, string
    switch (s.kind) {
      case params::Kind::kInteger: CHECK_MESSAGE((alt == 0 || alt == 1), s.key); break;
      case params::Kind::kNumber: CHECK_MESSAGE(alt == 2, s.key); break;
      case params::Kind::kBoolean: CHECK_MESSAGE(alt == 3, s.key); break;
      case params::Kind::kString: CHECK_MESSAGE(alt == 4, s.key); break;
    }
    // every default is a valid value of its own key
    CHECK_MESSAGE(!params::check(s, ff::json::parse(params::default_json(s), "params")), s.key);
  }
  // JobParams' wire map: exactly the table's keys.
  msgpack::sbuffer buf;
  msgpack::pack(buf, JobParams{});
  auto oh = msgpack::unpack(buf.data(), buf.size());
  auto wire = oh.get().as<std::map<std::string, msgpack::object>>();
  std::set<std::string> wire_keys;
  for (const auto& [k, v] : wire) wire_keys.insert(k);
  CHECK(wire_keys == keys);
  std::string sorted;
  for (const auto& k : keys) sorted += (sorted.empty() ? "" : ", ") + k;
  CHECK(params::allowed_keys() == sorted);
  for (auto k : {"width", "height", "num_frames", "frame_rate", "num_inference_steps", "seed", "video_cfg",
                 "video_stg", "video_modality", "video_rescale", "audio_cfg", "audio_stg", "audio_modality",
                 "audio_rescale"})
    CHECK_MESSAGE(keys.count(k), "missing LTX-2.3 key ", k);
}

TEST_CASE("defaults are LTX_2_3_PARAMS") {
  const JobParams p;
  CHECK(p.width == 1536);
  CHECK(p.height == 1024);
  CHECK(p.num_frames == 121);
  CHECK(p.frame_rate == 24);
  CHECK(p.num_inference_steps == 30);
  CHECK(p.seed == 10);
  CHECK(p.video_cfg == 3.0);
  CHECK(p.video_stg == 1.0);
  CHECK(p.video_modality == 3.0);
  CHECK(p.video_rescale == 0.7);
  CHECK(p.audio_cfg == 7.0);
  CHECK(p.audio_stg == 1.0);
  CHECK(p.audio_modality == 3.0);
  CHECK(p.audio_rescale == 0.7);
  CHECK(params::default_json(spec("video_rescale")) == "0.7");
  CHECK(params::default_json(spec("audio_cfg")) == "7");
  CHECK(params::default_json(spec("width")) == "1536");
}

TEST_CASE("each rule rejects with a message naming it") {
  CHECK(msg("num_frames", Value(10)) ==
        "params.num_frames = 10 must be 8k+1 (e.g. 121): the video VAE encodes 1 + 8k frames");
  CHECK(msg("num_frames", Value(9)) == "OK");
  CHECK(msg("num_frames", Value(1)) == "OK");
  CHECK(msg("width", Value(100)) ==
        "params.width = 100 must be a multiple of 64 (e.g. 1536): stage 1 runs at half size on "
        "32-px latent cells");
  CHECK(msg("height", Value(96)) ==
        "params.height = 96 must be a multiple of 64 (e.g. 1024): stage 1 runs at half size on "
        "32-px latent cells");
  CHECK(msg("width", Value(32)) == "params.width = 32 is out of range [64, 4096]");
  CHECK(msg("width", Value(4160)) == "params.width = 4160 is out of range [64, 4096]");
  CHECK(msg("width", Value(1536.0)) == "OK");  // an integral number is an integer
  CHECK(msg("width", Value(2.5)) == "params.width must be a JSON integer, got 2.5");
  CHECK(msg("width", Value("512")) == "params.width must be a JSON integer, got \"512\"");
  CHECK(msg("num_inference_steps", Value(-1)) == "params.num_inference_steps = -1 is out of range [1, 500]");
  CHECK(msg("seed", Value(-1)) == "params.seed = -1 is out of range [0, 9223372036854775807]");
  CHECK(msg("seed", Value(9223372036854775807LL)) == "OK");
  CHECK(msg("seed", Value(1e19)) == "params.seed = 1e+19 is out of range [0, 9223372036854775807]");
  CHECK(msg("video_rescale", Value(1.5)) == "params.video_rescale = 1.5 is out of range [0, 1]");
  CHECK(msg("audio_cfg", Value(7)) == "OK");
  CHECK(msg("audio_cfg", Value(true)) == "params.audio_cfg must be a JSON number, got true");
  CHECK(msg("frame_rate", Value(23.976)) == "params.frame_rate must be a JSON integer, got 23.976");
  // the caller's literal is shown as written
  CHECK(params::check(spec("seed"), Value(1e20), "100000000000000000000").value() ==
        "params.seed = 100000000000000000000 is out of range [0, 9223372036854775807]");
}

TEST_CASE("whole objects: unknown keys and non-objects") {
  CHECK(params::check_object(ff::json::parse("{}", "params")) == std::nullopt);
  CHECK(params::check_object(ff::json::parse(R"({"width": 768, "video_cfg": 4.5})", "params")) == std::nullopt);
  CHECK(params::check_object(ff::json::parse(R"({"widht": 512})", "params")).value() ==
        "unknown key \"widht\" in params (allowed: " + params::allowed_keys() + ")");
  CHECK(params::check_object(ff::json::parse(R"({"guidance_scale": 3})", "params")).value().rfind(
            "unknown key \"guidance_scale\"", 0) == 0);
  CHECK(params::check_object(ff::json::parse(R"({"width": 768, "num_frames": 10})", "params")).value().rfind(
            "params.num_frames = 10 must be 8k+1", 0) == 0);
  CHECK(params::check_object(ff::json::parse("[1]", "params")).value() == "params must be a JSON object, got [1]");
}

TEST_CASE("decode: defaults for absent keys, values for given ones, errors name the rule") {
  JobParams d = params::decode("{}");
  CHECK(d.width == 1536);
  CHECK(d.seed == 10);
  CHECK(d.audio_cfg == 7.0);
  JobParams p = params::decode(
      R"({"width": 768, "height": 512.0, "num_frames": 9, "frame_rate": 25, "num_inference_steps": 4,
          "seed": 9223372036854775807, "video_cfg": 4.5, "video_stg": 0, "video_modality": 1,
          "video_rescale": 0, "audio_cfg": 5, "audio_stg": 0.5, "audio_modality": 2.5,
          "audio_rescale": 1})");
  CHECK(p.width == 768);
  CHECK(p.height == 512);
  CHECK(p.num_frames == 9);
  CHECK(p.frame_rate == 25);
  CHECK(p.num_inference_steps == 4);
  CHECK(p.seed == INT64_MAX);
  CHECK(p.video_cfg == 4.5);
  CHECK(p.video_stg == 0.0);
  CHECK(p.video_modality == 1.0);
  CHECK(p.video_rescale == 0.0);
  CHECK(p.audio_cfg == 5.0);
  CHECK(p.audio_stg == 0.5);
  CHECK(p.audio_modality == 2.5);
  CHECK(p.audio_rescale == 1.0);
  CHECK_THROWS_WITH_AS(params::decode(R"({"num_frames": 10})"), doctest::Contains("must be 8k+1"),
                       std::invalid_argument);
  CHECK_THROWS_WITH_AS(params::decode("{"), doctest::Contains("params: parse error at line 1"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(params::decode(R"({"num_inference_steps": -3})"),
                       "params.num_inference_steps = -3 is out of range [1, 500]", std::invalid_argument);
}

TEST_CASE("boolean and string kinds (for keys later migrations add)") {
  const params::ParamSpec flag{"audio", "audio", params::Kind::kBoolean, "", "", 0, 0, "", "", "doc", {}};
  CHECK(!params::check(flag, Value(true)));
  CHECK(params::check(flag, Value(1)).value() == "params.audio must be a JSON boolean, got 1");
  const params::ParamSpec preset{"preset", "preset", params::Kind::kString, "", "", 0, 0, "",
                                 "fast, veryfast", "doc", {}};
  CHECK(!params::check(preset, Value("veryfast")));
  CHECK(!params::check(preset, Value("fast")));
  CHECK(params::check(preset, Value("very")).value() == "params.preset = \"very\" is not one of fast, veryfast");
  CHECK(params::check(preset, Value(3)).value() == "params.preset must be a JSON string, got 3");
}

TEST_CASE("format_number prints like PostgreSQL's numeric") {
  CHECK(params::format_number(0.7) == "0.7");
  CHECK(params::format_number(100.0) == "100");
  CHECK(params::format_number(3.0) == "3");
  CHECK(params::format_number(1e-5) == "0.00001");
  CHECK(params::format_number(-2.5) == "-2.5");
}
