#include "worker/worker_config.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace ff::worker {
namespace {

[[noreturn]] void fail(std::string_view key, const std::string& what) {
  throw std::runtime_error("worker config: key '" + std::string(key) + "': " + what);
}

std::string get_string(const json::Value& v, std::string_view key) {
  if (!v.is_string()) fail(key, std::string("expected a string, got ") + v.type_name());
  return v.as_string();
}

int64_t get_int(const json::Value& v, std::string_view key, int64_t lo, int64_t hi) {
  if (!v.is_number()) fail(key, std::string("expected an integer, got ") + v.type_name());
  int64_t x = 0;
  try {
    x = v.as_int();
  } catch (const std::exception&) {
    fail(key, "expected an integer, got a fraction");
  }
  if (x < lo || x > hi)
    fail(key, "value " + std::to_string(x) + " out of range [" + std::to_string(lo) + ", " +
                  std::to_string(hi) + "]");
  return x;
}

int32_t get_i32(const json::Value& v, std::string_view key, int32_t lo, int32_t hi) {
  return static_cast<int32_t>(get_int(v, key, lo, hi));
}

// The model files as users download them. The supervisor needs only text_encoder (the tokenizer);
// the engine decodes and checks the whole object (ltx2::model_files_from_json). Relative paths
// are made absolute against the working directory, since the engine runs from elsewhere.
json::Value decode_model_files(const json::Value& v) {
  if (!v.is_object()) fail("model_files", std::string("expected an object, got ") + v.type_name());
  json::Value out = v;
  for (auto& [key, value] : out.as_object()) {
    if (!value.is_string()) continue;
    if (key == "pipeline") continue;
    if (value.as_string().empty()) fail("model_files." + key, "must not be empty");
    value = json::Value(std::filesystem::absolute(value.as_string()).lexically_normal().string());
  }
  for (const char* required : {"checkpoint", "text_encoder"})
    if (!out.as_object().contains(required)) fail(std::string("model_files.") + required, "required");
  get_string(*out.find("text_encoder"), "model_files.text_encoder");
  return out;
}

constexpr int32_t kMaxI32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

}  // namespace

WorkerConfig decode_worker_config(std::string_view json_text) {
  json::Value root;
  try {
    root = json::parse(json_text);
  } catch (const json::ParseError& e) {
    throw std::runtime_error(std::string("worker config: ") + e.what());
  }
  if (!root.is_object())
    throw std::runtime_error(std::string("worker config: expected a JSON object, got ") +
                             root.type_name());
  WorkerConfig c;
  for (const auto& [key, v] : root.as_object()) {
    if (key == "dispatcher_endpoint") c.dispatcher_endpoint = get_string(v, key);
    else if (key == "worker_id") c.worker_id = get_string(v, key);
    else if (key == "model") c.model = get_string(v, key);
    else if (key == "model_files") c.model_files = decode_model_files(v);
    else if (key == "run_dir") c.run_dir = get_string(v, key);
    else if (key == "slots") c.slots = get_i32(v, key, 1, 1024);
    else if (key == "max_encode_batch") c.max_encode_batch = get_i32(v, key, 1, 1024);
    else if (key == "max_length") c.max_length = get_i32(v, key, 1, 1 << 20);
    else if (key == "heartbeat_interval_ms") c.heartbeat_interval_ms = get_i32(v, key, 10, 600000);
    else if (key == "engine_command") c.engine_command = get_string(v, key);
    else if (key == "engine_start_timeout_ms") c.engine_start_timeout_ms = get_i32(v, key, 100, kMaxI32);
    else if (key == "engine_request_timeout_ms") c.engine_request_timeout_ms = get_i32(v, key, 100, kMaxI32);
    else if (key == "engine_restart_backoff_ms") c.engine_restart_backoff_ms = get_i32(v, key, 0, 600000);
    else if (key == "engine_restart_backoff_max_ms") c.engine_restart_backoff_max_ms = get_i32(v, key, 0, 3600000);
    else if (key == "engine_max_start_failures") c.engine_max_start_failures = get_i32(v, key, 0, 1000);
    else if (key == "gpus") fail(key, "per-GPU overrides of a node config: run with --gpu N");
    else if (key == "shutdown_grace_ms") c.shutdown_grace_ms = get_i32(v, key, 0, kMaxI32);
    else if (key == "engine") {
      if (!v.is_object()) fail(key, std::string("expected an object, got ") + v.type_name());
      c.engine = v;
      if (const json::Value* out = v.find("output_root")) c.output_root = get_string(*out, "engine.output_root");
      if (const json::Value* dev = v.find("device")) c.engine_device = get_string(*dev, "engine.device");
    } else if (key == "database_url") c.database_url = get_string(v, key);
    else if (key == "cache_ram_bytes") c.cache_ram_bytes = get_int(v, key, 0, kMaxI64);
    else if (key == "cache_retention_max_rows") c.cache_retention_max_rows = get_int(v, key, 0, kMaxI64);
    else if (key == "cache_retention_max_age_s") c.cache_retention_max_age_s = get_int(v, key, 0, kMaxI64);
    else if (key == "cache_prune_interval_s") c.cache_prune_interval_s = get_i32(v, key, 1, kMaxI32);
    else if (key == "metrics_port") {
      if (root.as_object().contains("metrics_bind")) fail(key, "give metrics_bind or metrics_port, not both");
      const int32_t port = get_i32(v, key, 0, 65535);
      c.metrics_bind = port > 0 ? "127.0.0.1:" + std::to_string(port) : "";
    } else if (key == "metrics_bind") {
      c.metrics_bind = get_string(v, key);
      const auto colon = c.metrics_bind.rfind(':');
      if (!c.metrics_bind.empty() &&
          (colon == std::string::npos || colon == 0 || colon + 1 == c.metrics_bind.size() ||
           c.metrics_bind.find_first_not_of("0123456789", colon + 1) != std::string::npos))
        fail(key, "'" + c.metrics_bind + "' is not ADDR:PORT like 127.0.0.1:9464");
    }
    else if (key == "curve_key_file") c.curve_key_file = get_string(v, key);
    else if (key == "dispatcher_public_key_file") c.dispatcher_public_key_file = get_string(v, key);
    else fail(key, "unknown key");
  }
  if (c.dispatcher_endpoint.empty()) fail("dispatcher_endpoint", "required");
  if (c.curve_key_file.empty() != c.dispatcher_public_key_file.empty())
    fail(c.curve_key_file.empty() ? "curve_key_file" : "dispatcher_public_key_file",
         "CURVE needs both curve_key_file and dispatcher_public_key_file");
  if (c.worker_id.empty()) fail("worker_id", "required");
  if (c.model_files.is_null()) fail("model_files", "required");
  if (c.model.empty()) fail("model", "must not be empty");
  if (!c.engine.is_object()) c.engine = json::Object{};
  if (c.output_root.empty()) c.output_root = "output";  // relative to the working directory
  return c;
}

WorkerConfig load_worker_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("worker config: cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    return decode_worker_config(ss.str());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::string text_encoder_dir(const WorkerConfig& cfg) {
  const json::Value* te = cfg.model_files.is_object() ? cfg.model_files.find("text_encoder") : nullptr;
  return te && te->is_string() ? te->as_string() : std::string();
}

std::string engine_config_json(const WorkerConfig& cfg) {
  json::Value v = cfg.engine.is_object() ? cfg.engine : json::Value(json::Object{});
  if (!v.as_object().contains("max_encode_batch"))
    v.as_object().set("max_encode_batch", json::Value(cfg.max_encode_batch));
  v.as_object().set("model", cfg.model_files);
  if (!v.as_object().contains("output_root"))
    v.as_object().set("output_root", json::Value(cfg.output_root));
  return json::dump(v, 2);
}

}  // namespace ff::worker
