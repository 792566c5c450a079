#include "worker/node_config.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ff::worker {
namespace {

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw std::runtime_error("worker config: key '" + key + "': " + what);
}

void substitute_gpu(json::Value& v, const std::string& index) {
  if (v.is_string()) {
    std::string s = v.as_string();
    for (size_t at = s.find("{gpu}"); at != std::string::npos; at = s.find("{gpu}", at + index.size()))
      s.replace(at, 5, index);
    v = json::Value(s);
  } else if (v.is_object()) {
    for (auto& [k, x] : v.as_object()) substitute_gpu(x, index);
  } else if (v.is_array()) {
    for (auto& x : v.as_array()) substitute_gpu(x, index);
  }
}

// "ADDR:PORT" -> "ADDR:PORT+offset"; anything else is left for the decoder to refuse.
std::string shift_bind_port(const std::string& bind, int offset) {
  const size_t colon = bind.rfind(':');
  if (colon == std::string::npos || colon + 1 >= bind.size() ||
      bind.find_first_not_of("0123456789", colon + 1) != std::string::npos || bind.size() - colon > 6)
    return bind;
  return bind.substr(0, colon + 1) + std::to_string(std::stoi(bind.substr(colon + 1)) + offset);
}

}  // namespace

json::Value node_config_for_gpu(const json::Value& node, int gpu) {
  if (gpu < 0) fail("--gpu", "GPU index " + std::to_string(gpu) + " is negative");
  if (!node.is_object()) return node;  // the decoder names the problem
  json::Value out = node;
  json::Object& o = out.as_object();
  const std::string index = std::to_string(gpu);
  json::Object overrides;
  if (const json::Value* gpus = node.find("gpus")) {
    if (!gpus->is_object()) fail("gpus", std::string("expected an object keyed by GPU index, got ") + gpus->type_name());
    for (const auto& [k, v] : gpus->as_object()) {
      if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos)
        fail("gpus." + k, "keys are GPU indices (0, 1, ...)");
      if (!v.is_object()) fail("gpus." + k, std::string("expected an object, got ") + v.type_name());
    }
    if (const json::Value* mine = gpus->find(index)) overrides = mine->as_object();
    o.erase("gpus");
  }
  // Ports first (from the node's values), then GPU N's overrides win as given.
  if (json::Value* p = o.find("metrics_port"); p && p->is_int() && p->as_int() > 0)
    *p = json::Value(p->as_int() + gpu);
  if (json::Value* b = o.find("metrics_bind"); b && b->is_string() && !b->as_string().empty())
    *b = json::Value(shift_bind_port(b->as_string(), gpu));
  for (const auto& [k, v] : overrides) {
    json::Value* engine = o.find("engine");
    if (k == "engine" && v.is_object() && engine && engine->is_object()) {
      for (const auto& [ek, ev] : v.as_object()) engine->as_object().set(ek, ev);
    } else {
      o.set(k, v);
    }
  }
  substitute_gpu(out, index);
  return out;
}

WorkerConfig load_worker_config_for_gpu(const std::string& path, int gpu) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("worker config: cannot read '" + path + "'");
  std::ostringstream ss;
  ss << in.rdbuf();
  try {
    json::Value node;
    try {
      node = json::parse(ss.str());
    } catch (const json::ParseError& e) {
      throw std::runtime_error(std::string("worker config: ") + e.what());
    }
    return decode_worker_config(json::dump(node_config_for_gpu(node, gpu)));
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " (GPU " + std::to_string(gpu) + "): " + e.what());
  }
}

}  // namespace ff::worker
