// The published files' inventory: the set the loader expects for the real 2.3 config equals the one
// ltx-core's own classes produce (fixture ltx23_inventory.json, written by
// reference/inventory_reference.py), and make-weights' ltx23-22b plan declares exactly that set,
// config and dtypes. check-model on files: test_model_files.cpp.
#include "tests/worker/engine/doctest_torch.hpp"

#include <filesystem>
#include <map>
#include <string>

#include "common/json_fields.hpp"
#include "tests/worker/engine/ltx2/model_files_support.hpp"
#include "worker/engine/io/safetensors.hpp"
#include "worker/engine/ltx2/av_transformer_weights.hpp"
#include "worker/engine/ltx2/checkpoint_inventory.hpp"
#include "worker/engine/ltx2/model_files.hpp"
#include "worker/engine/ltx2/published_writer.hpp"
#include "worker/engine/ltx2/upsampler.hpp"

namespace {

using namespace ff::ltx2;
using ff::ltx2::model_files_test::checkpoint_metadata;
using ff::ltx2::model_files_test::read_json;
namespace json = ff::json;
namespace fs = std::filesystem;

const json::Json& inventory_fixture() {
  static const json::Json v = [] {
    const std::string path = std::string(FF_LTX2_FIXTURES) + "/ltx23_inventory.json";
    if (!fs::exists(path))
      FAIL("missing fixture " << path << " (run tests/worker/engine/ltx2/reference/inventory_reference.py --out tests/worker/engine/ltx2/fixtures)");
    return read_json(path);
  }();
  return v;
}

using ShapeMap = std::map<std::string, std::vector<int64_t>>;

ShapeMap to_map(const json::Json& entries, std::map<std::string, std::string>* dtypes = nullptr) {
  ShapeMap m;
  for (const auto& e : entries) {
    std::vector<int64_t> shape;
    for (const auto& d : e[1]) shape.push_back(d.get<int64_t>());
    m[e[0].get<std::string>()] = shape;
    if (dtypes) (*dtypes)[e[0].get<std::string>()] = e[2].get<std::string>();
  }
  return m;
}

ShapeMap to_map(const std::vector<NamedShape>& v) {
  ShapeMap m;
  for (const auto& t : v) m[t.name] = t.shape;
  return m;
}

// Lists the first differences of two maps (empty = equal).
std::string diff(const ShapeMap& got, const ShapeMap& want) {
  std::string out;
  int n = 0;
  for (const auto& [k, s] : want)
    if (!got.count(k) && n++ < 5) out += " missing " + k;
  for (const auto& [k, s] : got)
    if (!want.count(k) && n++ < 5) out += " extra " + k;
  for (const auto& [k, s] : want)
    if (got.count(k) && got.at(k) != s && n++ < 5) out += " shape " + k;
  return out;
}

// JSON equality ignoring object key order.
bool same_json(const json::Json& a, const json::Json& b) {
  if (a.is_object() != b.is_object()) return false;
  if (!a.is_object()) {
    if (a.is_array() && b.is_array()) {
      if (a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i)
        if (!same_json(a[i], b[i])) return false;
      return true;
    }
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }
  if (a.size() != b.size()) return false;
  for (const auto& [k, v] : a.items()) {
    if (!b.contains(k) || !same_json(v, b.at(k))) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("the loader's inventory of the real 2.3 config equals ltx-core's (fixture)") {
  const json::Json& fx = inventory_fixture();
  const LtxModelConfig cfg = ltx_model_config_from_metadata(
      checkpoint_metadata(*fx.find("config"), fx.at("model_version").get<std::string>()), "fixture config");
  const auto inv = checkpoint_inventory(cfg, published_preset("ltx23-22b").gemma, "fixture config");
  const json::Json& comps = *fx.find("checkpoint")->find("components");
  ShapeMap all_got, all_want;
  CHECK(inv.size() == comps.size());
  for (const auto& c : inv) {
    REQUIRE_MESSAGE(comps.contains(c.component), "fixture has no component " << c.component);
    const json::Json* want = &comps.at(c.component);
    const ShapeMap g = to_map(c.tensors), w = to_map(*want);
    CHECK_MESSAGE(g == w, c.component << ":" << diff(g, w));
    CHECK(g.size() == c.tensors.size());  // no duplicate names inside a component
    all_got.insert(g.begin(), g.end());
    all_want.insert(w.begin(), w.end());
  }
  CHECK(all_got.size() == 5947);
  CHECK(all_got == all_want);

  // The upsampler file.
  const json::Json& up = *fx.find("spatial_upsampler");
  UpsamplerWeights w;
  const auto slots = upsampler_slots(w, upsampler_config_from_json(*up.find("config"), "fixture upsampler"));
  CHECK_MESSAGE(to_map(shapes_of(slots)) == to_map(*up.find("tensors")),
                diff(to_map(shapes_of(slots)), to_map(*up.find("tensors"))));
}

TEST_CASE("make-weights ltx23-22b declares the fixture's set, config and dtypes") {
  const json::Json& fx = inventory_fixture();
  CHECK(same_json(ltx23_checkpoint_config(), *fx.find("config")));
  CHECK(same_json(ltx23_upsampler_config(), *fx.find("spatial_upsampler")->find("config")));
  const PublishedLayout l = published_layout(published_preset("ltx23-22b"), "/nonexistent/model");
  REQUIRE(l.files.front().path == kDevCheckpointName);
  std::map<std::string, std::string> want_dtypes;
  ShapeMap want;
  for (const auto& [name, entries] : fx.at("checkpoint").at("components").items()) {
    const ShapeMap m = to_map(entries, &want_dtypes);
    want.insert(m.begin(), m.end());
  }
  ShapeMap got;
  int64_t f32 = 0;
  for (const auto& t : l.files.front().tensors) {
    got[t.name] = t.shape;
    CHECK_MESSAGE(ff::io::safetensors_dtype(t.dtype) == want_dtypes[t.name], t.name);
    f32 += t.dtype == at::kFloat;
  }
  CHECK_MESSAGE(got == want, diff(got, want));
  CHECK(f32 == 290);
  CHECK(l.files.front().metadata.at("model_version") == "2.3.0");
  // Only what is asked at real size: dev checkpoint, upsampler, LoRA, 5 Gemma shards.
  CHECK(l.files.size() == 3 + 5);
}
