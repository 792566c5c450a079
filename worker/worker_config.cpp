#include "worker/worker_config.hpp"

#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace ff::worker {

[[noreturn]] void config_key_error(std::string_view key, const std::string& what) {
  throw std::runtime_error("worker config: key '" + std::string(key) + "': " + what);
}

namespace {

using json::Json;

// `v` (the value under `key`) as T in [lo, hi] (json_fields' decode: integral floats accepted,
// anything else of the wrong type refused); errors in the format above.
template <class T>
T read(const Json& v, std::string_view key, T lo, T hi) {
  const std::string path(key);
  try {
    return json::in_range(json::decode<T>(v, path), lo, hi, path);
  } catch (const json::Error& e) {
    const std::string m = e.what();
    config_key_error(key, m.rfind(path + ": ", 0) == 0 ? m.substr(path.size() + 2) : m);
  }
}

std::string read_string(const Json& v, std::string_view key) {
  if (!v.is_string()) config_key_error(key, std::string("expected a string, got ") + json::type_of(v));
  return v.get<std::string>();
}

// The model files as users download them. The supervisor needs only text_encoder (the tokenizer);
// the engine decodes and checks the whole object (ltx2::model_files_from_json). Relative paths
// are made absolute against the working directory, since the engine runs from elsewhere.
Json decode_model_files(const Json& v) {
  if (!v.is_object()) config_key_error("model_files", std::string("expected an object, got ") + json::type_of(v));
  Json out = v;
  for (auto& [key, value] : out.items()) {
    if (!value.is_string() || key == "pipeline") continue;
    if (value.get<std::string>().empty()) config_key_error("model_files." + key, "must not be empty");
    value = std::filesystem::absolute(value.get<std::string>()).lexically_normal().string();
  }
  for (const char* required : {"checkpoint", "text_encoder"})
    if (!out.contains(required)) config_key_error(std::string("model_files.") + required, "required");
  read_string(out["text_encoder"], "model_files.text_encoder");
  return out;
}

constexpr int32_t kMaxI32 = std::numeric_limits<int32_t>::max();
constexpr int64_t kMaxI64 = std::numeric_limits<int64_t>::max();

}  // namespace

WorkerConfig decode_worker_config(std::string_view json_text) {
  Json root;
  try {
    root = json::parse(json_text, "worker config");  // refuses duplicate keys
  } catch (const json::Error& e) {
    throw std::runtime_error(e.what());
  }
  if (!root.is_object())
    throw std::runtime_error(std::string("worker config: expected a JSON object, got ") + json::type_of(root));
  WorkerConfig c;
  for (const auto& [key, v] : root.items()) {
    auto i32 = [&](int32_t& field, int32_t lo, int32_t hi) { field = read<int32_t>(v, key, lo, hi); };
    auto i64 = [&](int64_t& field, int64_t lo, int64_t hi) { field = read<int64_t>(v, key, lo, hi); };
    if (key == "dispatcher_endpoint") c.dispatcher_endpoints = {read_string(v, key)};
    else if (key == "dispatcher_endpoints") {
      if (root.contains("dispatcher_endpoint")) config_key_error(key, "give dispatcher_endpoint or dispatcher_endpoints, not both");
      if (!v.is_array() || v.empty()) config_key_error(key, std::string("expected a non-empty list of endpoints, got ") + json::type_of(v));
      c.dispatcher_endpoints.clear();
      for (size_t i = 0; i < v.size(); ++i) c.dispatcher_endpoints.push_back(read_string(v[i], std::string(key) + "[" + std::to_string(i) + "]"));
    }
    else if (key == "worker_id") c.worker_id = read_string(v, key);
    else if (key == "model") c.model = read_string(v, key);
    else if (key == "model_files") c.model_files = decode_model_files(v);
    else if (key == "run_dir") c.run_dir = read_string(v, key);
    else if (key == "slots") i32(c.slots, 1, 1024);
    else if (key == "max_encode_batch") i32(c.max_encode_batch, 1, 1024);
    else if (key == "max_length") i32(c.max_length, 1, 1 << 20);
    else if (key == "heartbeat_interval_ms") i32(c.heartbeat_interval_ms, 10, 600000);
    else if (key == "engine_command") c.engine_command = read_string(v, key);
    else if (key == "engine_start_timeout_ms") i32(c.engine_start_timeout_ms, 100, kMaxI32);
    else if (key == "engine_request_timeout_ms") i32(c.engine_request_timeout_ms, 100, kMaxI32);
    else if (key == "engine_restart_backoff_ms") i32(c.engine_restart_backoff_ms, 0, 600000);
    else if (key == "engine_restart_backoff_max_ms") i32(c.engine_restart_backoff_max_ms, 0, 3600000);
    else if (key == "engine_max_start_failures") i32(c.engine_max_start_failures, 0, 1000);
    else if (key == "gpus") config_key_error(key, "per-GPU overrides of a node config: run with --gpu N");
    else if (key == "shutdown_grace_ms") i32(c.shutdown_grace_ms, 0, kMaxI32);
    else if (key == "engine") {
      if (!v.is_object()) config_key_error(key, std::string("expected an object, got ") + json::type_of(v));
      c.engine = v;
      if (auto out = v.find("output_root"); out != v.end()) c.output_root = read_string(*out, "engine.output_root");
      if (auto dev = v.find("device"); dev != v.end()) c.engine_device = read_string(*dev, "engine.device");
    } else if (key == "database_url") c.database_url = read_string(v, key);
    else if (key == "cache_ram_bytes") i64(c.cache_ram_bytes, 0, kMaxI64);
    else if (key == "cache_retention_max_rows") i64(c.cache_retention_max_rows, 0, kMaxI64);
    else if (key == "cache_retention_max_age_s") i64(c.cache_retention_max_age_s, 0, kMaxI64);
    else if (key == "cache_prune_interval_s") i32(c.cache_prune_interval_s, 1, kMaxI32);
    else if (key == "metrics_port") {
      if (root.contains("metrics_bind")) config_key_error(key, "give metrics_bind or metrics_port, not both");
      const int32_t port = read<int32_t>(v, key, 0, 65535);
      c.metrics_bind = port > 0 ? "127.0.0.1:" + std::to_string(port) : "";
    } else if (key == "metrics_bind") {
      c.metrics_bind = read_string(v, key);
      const auto colon = c.metrics_bind.rfind(':');
      if (!c.metrics_bind.empty() &&
          (colon == std::string::npos || colon == 0 || colon + 1 == c.metrics_bind.size() ||
           c.metrics_bind.find_first_not_of("0123456789", colon + 1) != std::string::npos))
        config_key_error(key, "'" + c.metrics_bind + "' is not ADDR:PORT like 127.0.0.1:9464");
    }
    else if (key == "curve_key_file") c.curve_key_file = read_string(v, key);
    else if (key == "dispatcher_public_key_file") c.dispatcher_public_key_file = read_string(v, key);
    else config_key_error(key, "unknown key");
  }
  for (size_t i = 0; i < c.dispatcher_endpoints.size(); ++i)
    if (c.dispatcher_endpoints[i].empty())
      config_key_error(root.contains("dispatcher_endpoints") ? "dispatcher_endpoints[" + std::to_string(i) + "]" : "dispatcher_endpoint",
           "must not be empty");
  if (c.dispatcher_endpoints.empty()) config_key_error("dispatcher_endpoint", "required");
  c.dispatcher_endpoint = c.dispatcher_endpoints.front();
  if (c.curve_key_file.empty() != c.dispatcher_public_key_file.empty())
    config_key_error(c.curve_key_file.empty() ? "curve_key_file" : "dispatcher_public_key_file",
         "CURVE needs both curve_key_file and dispatcher_public_key_file");
  if (c.worker_id.empty()) config_key_error("worker_id", "required");
  if (c.model_files.is_null()) config_key_error("model_files", "required");
  if (c.model.empty()) config_key_error("model", "must not be empty");
  if (!c.engine.is_object()) c.engine = Json::object();
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
  if (!cfg.model_files.is_object()) return {};
  auto te = cfg.model_files.find("text_encoder");
  return te != cfg.model_files.end() && te->is_string() ? te->get<std::string>() : std::string();
}

std::string engine_config_json(const WorkerConfig& cfg) {
  Json v = cfg.engine.is_object() ? cfg.engine : Json::object();
  if (!v.contains("max_encode_batch")) v["max_encode_batch"] = cfg.max_encode_batch;
  v["model"] = cfg.model_files;
  if (!v.contains("output_root")) v["output_root"] = cfg.output_root;
  return v.dump(2);
}

}  // namespace ff::worker
