// unit: one node config for N GPUs (worker/node_config.hpp): per-GPU overrides, "{gpu}", metrics
// ports from the index; the shipped example decodes for GPUs 0 and 1.
#include <doctest/doctest.h>

#include <string>

#include "common/json_fields.hpp"
#include "worker/node_config.hpp"

namespace json = ff::json;
using ff::worker::node_config_for_gpu;

namespace {

const char* kNode = R"({
  "dispatcher_endpoint": "tcp://10.0.0.5:5555",
  "worker_id": "node-3/cuda:{gpu}",
  "model_files": {"checkpoint": "/m/ltx.safetensors", "text_encoder": "/m/gemma"},
  "run_dir": "/run/framefarm-worker-{gpu}",
  "slots": 2,
  "engine": {"device": "cuda:0", "vram_budget_bytes": 90000000000, "output_root": "/srv/out"},
  "metrics_port": 9464,
  "gpus": {"1": {"slots": 1, "engine": {"vram_budget_bytes": 40000000000}},
           "2": {"metrics_port": 9500, "worker_id": "node-3/spare"}}
})";

json::Json node(const char* text = kNode) { return json::parse(text, "node config"); }

std::string err(const std::string& text, int gpu) {
  try {
    node_config_for_gpu(json::parse(text, "node config"), gpu);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("GPU 0 gets the shared values with its index filled in and the base metrics port") {
  const auto c = ff::worker::decode_worker_config(node_config_for_gpu(node(), 0).dump());
  CHECK(c.worker_id == "node-3/cuda:0");
  CHECK(c.run_dir == "/run/framefarm-worker-0");
  CHECK(c.slots == 2);
  CHECK(c.engine["vram_budget_bytes"] == 90000000000);
  CHECK(node_config_for_gpu(node(), 0).dump().find("\"metrics_port\":9464") != std::string::npos);
  CHECK(node_config_for_gpu(node(), 0).contains("gpus") == false);
}

TEST_CASE("GPU 1: its overrides replace keys, its engine keys merge into the shared engine, port + 1") {
  const json::Json v = node_config_for_gpu(node(), 1);
  CHECK(v["worker_id"] == "node-3/cuda:1");
  CHECK(v["slots"] == 1);
  CHECK(v["engine"]["vram_budget_bytes"] == 40000000000);
  CHECK(v["engine"]["device"] == "cuda:0");       // kept from the shared engine
  CHECK(v["engine"]["output_root"] == "/srv/out");
  CHECK(v["metrics_port"] == 9465);
  ff::worker::decode_worker_config(v.dump());  // decodes
}

TEST_CASE("a GPU's own metrics_port or worker_id is taken as given, GPU 7 without overrides is derived") {
  const json::Json two = node_config_for_gpu(node(), 2);
  CHECK(two["metrics_port"] == 9500);
  CHECK(two["worker_id"] == "node-3/spare");
  const json::Json seven = node_config_for_gpu(node(), 7);
  CHECK(seven["metrics_port"] == 9471);
  CHECK(seven["run_dir"] == "/run/framefarm-worker-7");
  const json::Json bind = node_config_for_gpu(node(R"({"metrics_bind": "0.0.0.0:9464", "w": "{gpu}{gpu}"})"), 3);
  CHECK(bind["metrics_bind"] == "0.0.0.0:9467");
  CHECK(bind["w"] == "33");
  CHECK(node_config_for_gpu(node(R"({"metrics_port": 0})"), 3)["metrics_port"] == 0);  // off stays off
}

TEST_CASE("malformed gpus objects and a negative index are refused by name") {
  CHECK(err(R"({"gpus": []})", 0).find("'gpus': expected an object keyed by GPU index") != std::string::npos);
  CHECK(err(R"({"gpus": {"a": {}}})", 0).find("'gpus.a': keys are GPU indices") != std::string::npos);
  CHECK(err(R"({"gpus": {"1": 3}})", 0).find("'gpus.1': expected an object") != std::string::npos);
  CHECK(err(R"({})", -1).find("negative") != std::string::npos);
  // Without --gpu a node config's "gpus" key is an unknown key for the plain decoder.
  try {
    ff::worker::decode_worker_config(kNode);
    FAIL("decoded a node config without a GPU index");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("'gpus': per-GPU overrides of a node config: run with --gpu N") != std::string::npos);
  }
}

TEST_CASE("the shipped example (ops/config/worker.json) decodes for GPU 0 and 1 with distinct ids and ports") {
  const auto c0 = ff::worker::load_worker_config_for_gpu(FF_SOURCE_DIR "/ops/config/worker.json", 0);
  const auto c1 = ff::worker::load_worker_config_for_gpu(FF_SOURCE_DIR "/ops/config/worker.json", 1);
  CHECK(c0.worker_id != c1.worker_id);
  CHECK(c0.run_dir == "/run/framefarm-worker-0");
  CHECK(c1.run_dir == "/run/framefarm-worker-1");
  CHECK(c0.engine["device"] == "cuda:0");  // each instance sees only its own GPU
  CHECK(c1.engine["device"] == "cuda:0");
}
