// Unit tests of the worker config decoder: defaults, every key, errors naming the key.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "worker/worker_config.hpp"

using ff::worker::decode_worker_config;

namespace {
const std::string kMinimal =
    R"({"dispatcher_endpoint": "tcp://127.0.0.1:5555", "worker_id": "w1",
        "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}})";
}

TEST_CASE("a minimal config gets the documented defaults") {
  const auto c = decode_worker_config(kMinimal);
  CHECK(c.dispatcher_endpoint == "tcp://127.0.0.1:5555");
  CHECK(c.worker_id == "w1");
  CHECK(ff::worker::text_encoder_dir(c) == "/m/te");
  CHECK(c.model_files["checkpoint"] == "/m/c.safetensors");
  CHECK(c.model == "ltx-2.3");
  CHECK(c.slots == 1);
  CHECK(c.max_encode_batch == 8);
  CHECK(c.max_length == 1024);
  CHECK(c.heartbeat_interval_ms == 1000);
  CHECK(c.engine_command.empty());
  CHECK(c.engine.is_object());
  CHECK(c.output_root == "output");
  CHECK(c.database_url.empty());
  CHECK(c.metrics_bind.empty());  // no /metrics unless configured
}

TEST_CASE("every key is decoded") {
  const auto c = decode_worker_config(R"({
    "dispatcher_endpoint": "tcp://d:1", "worker_id": "node/cuda:0", "model": "m2",
    "model_files": {"checkpoint": "/models/x.safetensors", "text_encoder": "/models/te", "pipeline": "distilled"}, "run_dir": "/run/w0", "slots": 4, "max_encode_batch": 16,
    "max_length": 512, "heartbeat_interval_ms": 250, "engine_command": "/bin/engine",
    "engine_start_timeout_ms": 5000, "engine_request_timeout_ms": 7000,
    "engine_restart_backoff_ms": 10, "shutdown_grace_ms": 3000,
    "engine": {"device": "cuda:0", "vram_budget_bytes": 90000000000, "output_root": "/srv/out",
               "placements": {"text_encoder": "stream"}},
    "database_url": "postgresql:///ff", "cache_ram_bytes": 1048576, "metrics_port": 9464,
    "cache_retention_max_rows": 1000, "cache_retention_max_age_s": 86400, "cache_prune_interval_s": 60})");
  CHECK(c.model == "m2");
  CHECK(c.run_dir == "/run/w0");
  CHECK(c.slots == 4);
  CHECK(c.max_encode_batch == 16);
  CHECK(c.max_length == 512);
  CHECK(c.heartbeat_interval_ms == 250);
  CHECK(c.engine_command == "/bin/engine");
  CHECK(c.engine_start_timeout_ms == 5000);
  CHECK(c.engine_request_timeout_ms == 7000);
  CHECK(c.engine_restart_backoff_ms == 10);
  CHECK(c.shutdown_grace_ms == 3000);
  CHECK(c.output_root == "/srv/out");
  CHECK(c.engine["vram_budget_bytes"] == 90000000000);
  CHECK(c.database_url == "postgresql:///ff");
  CHECK(c.cache_ram_bytes == 1048576);
  CHECK(c.metrics_bind == "127.0.0.1:9464");  // metrics_port N: loopback
  CHECK(c.cache_retention_max_rows == 1000);
  CHECK(c.cache_retention_max_age_s == 86400);
  CHECK(c.cache_prune_interval_s == 60);
}

TEST_CASE("the engine config passes through, with max_encode_batch added") {
  auto c = decode_worker_config(R"({"dispatcher_endpoint": "tcp://d:1", "worker_id": "w",
      "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}, "max_encode_batch": 5, "engine": {"device": "cpu"}})");
  auto v = ff::json::parse(ff::worker::engine_config_json(c), "engine config");
  CHECK(v["device"] == "cpu");
  CHECK(v["max_encode_batch"] == 5);
  CHECK(v["output_root"] == "output");
  CHECK(v["model"]["text_encoder"] == "/m/te");
  CHECK(v.begin().key() == "device");  // the engine object's own keys first, in their order
  c = decode_worker_config(R"({"dispatcher_endpoint": "tcp://d:1", "worker_id": "w",
      "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}, "engine": {"max_encode_batch": 3}})");
  CHECK(ff::json::parse(ff::worker::engine_config_json(c), "engine config")["max_encode_batch"] == 3);
}

TEST_CASE("an unknown key is rejected, naming it") {
  CHECK_THROWS_WITH_AS(
      decode_worker_config(R"({"dispatcher_endpoint": "tcp://d:1", "worker_id": "w",
                               "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}, "slot": 2})"),
      doctest::Contains("'slot': unknown key"), std::runtime_error);
}

TEST_CASE("CURVE keys: both files or neither") {
  const std::string base = R"({"dispatcher_endpoint": "tcp://d:1", "worker_id": "w",
      "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"})";
  const auto c = decode_worker_config(base + R"(, "curve_key_file": "/k/w.key", "dispatcher_public_key_file": "/k/d.pub"})");
  CHECK(c.curve_key_file == "/k/w.key");
  CHECK(c.dispatcher_public_key_file == "/k/d.pub");
  CHECK(decode_worker_config(base + "}").curve_key_file.empty());
  CHECK_THROWS_WITH_AS(decode_worker_config(base + R"(, "curve_key_file": "/k/w.key"})"),
                       doctest::Contains("'dispatcher_public_key_file': CURVE needs both"), std::runtime_error);
  CHECK_THROWS_WITH_AS(decode_worker_config(base + R"(, "dispatcher_public_key_file": "/k/d.pub"})"),
                       doctest::Contains("'curve_key_file': CURVE needs both"), std::runtime_error);
}

TEST_CASE("wrong types, ranges and missing keys name the key") {
  auto err = [](const std::string& json) -> std::string {
    try {
      decode_worker_config(json);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(err(R"({"worker_id": "w", "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}})").find("'dispatcher_endpoint': required") != std::string::npos);
  CHECK(err(R"({"dispatcher_endpoint": "x", "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"}})").find("'worker_id': required") != std::string::npos);
  CHECK(err(R"({"dispatcher_endpoint": "x", "worker_id": "w"})").find("'model_files': required") != std::string::npos);
  const std::string base = R"("dispatcher_endpoint": "x", "worker_id": "w", "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"})";
  CHECK(err("{" + base + R"(, "slots": "2"})").find("'slots': expected integer, got string") != std::string::npos);
  CHECK(err("{" + base + R"(, "slots": 0})").find("'slots': must be in [1, 1024], got 0") != std::string::npos);
  CHECK(err("{" + base + R"(, "slots": 1.5})").find("'slots': expected integer, got 1.5") != std::string::npos);
  CHECK(ff::worker::decode_worker_config("{" + base + R"(, "slots": 2.0})").slots == 2);  // an integral number
  CHECK(err("{" + base + R"(, "cache_ram_bytes": -1})").find("'cache_ram_bytes': must be in [0, ") != std::string::npos);
  CHECK(err("{" + base + R"(, "engine": {"device": 0}})").find("'engine.device': expected a string") != std::string::npos);
  CHECK(err("{" + base + R"(, "metrics_port": 70000})").find("'metrics_port'") != std::string::npos);
  CHECK(err("{" + base + R"(, "metrics_bind": "9464"})").find("'metrics_bind': '9464' is not ADDR:PORT") != std::string::npos);
  CHECK(err("{" + base + R"(, "metrics_bind": "a:1", "metrics_port": 2})").find("not both") != std::string::npos);
  CHECK(ff::worker::decode_worker_config("{" + base + R"(, "metrics_bind": "0.0.0.0:9500"})").metrics_bind == "0.0.0.0:9500");
  CHECK(err("{" + base + R"(, "engine": []})").find("'engine': expected an object") != std::string::npos);
  CHECK(err("{" + base + R"(, "engine": {"output_root": 3}})").find("engine.output_root") != std::string::npos);
  CHECK(err("[1, 2]").find("expected a JSON object") != std::string::npos);
  CHECK(err("{").find("worker config: parse error at line 1") != std::string::npos);
  CHECK(err("{" + base + R"(, "worker_id": "again"})").find("duplicate") != std::string::npos);
}

TEST_CASE("model_files: paths become absolute, checkpoint and text_encoder are required") {
  const auto c = decode_worker_config(R"({"dispatcher_endpoint": "x", "worker_id": "w",
      "model_files": {"checkpoint": "rel/c.safetensors", "text_encoder": "/a/../te", "pipeline": "two_stages"}})");
  CHECK(c.model_files["checkpoint"].get<std::string>().front() == '/');
  CHECK(ff::worker::text_encoder_dir(c) == "/te");
  CHECK(c.model_files["pipeline"] == "two_stages");
  CHECK_THROWS_WITH_AS(decode_worker_config(R"({"dispatcher_endpoint": "x", "worker_id": "w",
      "model_files": {"checkpoint": "/c"}})"), doctest::Contains("'model_files.text_encoder': required"), std::runtime_error);
  CHECK_THROWS_WITH_AS(decode_worker_config(R"({"dispatcher_endpoint": "x", "worker_id": "w",
      "model_files": "/m"})"), doctest::Contains("'model_files': expected an object"), std::runtime_error);
}

TEST_CASE("dispatcher_endpoints: a list in failover order, or dispatcher_endpoint as its one-element form") {
  const std::string files = R"("worker_id": "w", "model_files": {"checkpoint": "/m/c.safetensors", "text_encoder": "/m/te"})";
  const auto list = decode_worker_config("{" + files + R"(, "dispatcher_endpoints": ["tcp://a:5555", "tcp://b:5555"]})");
  CHECK(list.dispatcher_endpoints == std::vector<std::string>{"tcp://a:5555", "tcp://b:5555"});
  CHECK(list.dispatcher_endpoint == "tcp://a:5555");  // the first one
  const auto one = decode_worker_config("{" + files + R"(, "dispatcher_endpoint": "tcp://c:1"})");
  CHECK(one.dispatcher_endpoints == std::vector<std::string>{"tcp://c:1"});
  CHECK(one.dispatcher_endpoint == "tcp://c:1");
  auto err = [&](const std::string& keys) -> std::string {
    try {
      decode_worker_config("{" + files + ", " + keys + "}");
    } catch (const std::exception& e) {
      return e.what();
    }
    return "no error";
  };
  CHECK(err(R"("dispatcher_endpoint": "tcp://a:1", "dispatcher_endpoints": ["tcp://b:1"])") ==
        "worker config: key 'dispatcher_endpoints': give dispatcher_endpoint or dispatcher_endpoints, not both");
  CHECK(err(R"("dispatcher_endpoints": [])") ==
        "worker config: key 'dispatcher_endpoints': expected a non-empty list of endpoints, got array");
  CHECK(err(R"("dispatcher_endpoints": "tcp://a:1")") ==
        "worker config: key 'dispatcher_endpoints': expected a non-empty list of endpoints, got string");
  CHECK(err(R"("dispatcher_endpoints": ["tcp://a:1", 5])") ==
        "worker config: key 'dispatcher_endpoints[1]': expected a string, got integer");
  CHECK(err(R"("dispatcher_endpoints": ["tcp://a:1", ""])") ==
        "worker config: key 'dispatcher_endpoints[1]': must not be empty");
  CHECK(err(R"("dispatcher_endpoint": "")") == "worker config: key 'dispatcher_endpoint': must not be empty");
}
