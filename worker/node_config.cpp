#include "worker/node_config.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace ff::worker {
namespace {

using json::Json;

void substitute_gpu(Json& v, const std::string& index) {
  if (v.is_string()) {
    std::string s = v.get<std::string>();
    for (size_t at = s.find("{gpu}"); at != std::string::npos; at = s.find("{gpu}", at + index.size()))
      s.replace(at, 5, index);
    v = s;
  } else if (v.is_structured()) {
    for (auto& x : v) substitute_gpu(x, index);
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

Json node_config_for_gpu(const Json& node, int gpu) {
  if (gpu < 0) config_key_error("--gpu", "GPU index " + std::to_string(gpu) + " is negative");
  if (!node.is_object()) return node;  // the decoder names the problem
  Json out = node;
  const std::string index = std::to_string(gpu);
  Json overrides = Json::object();
  if (auto gpus = node.find("gpus"); gpus != node.end()) {
    if (!gpus->is_object())
      config_key_error("gpus", std::string("expected an object keyed by GPU index, got ") + json::type_of(*gpus));
    for (const auto& [k, v] : gpus->items()) {
      if (k.empty() || k.find_first_not_of("0123456789") != std::string::npos)
        config_key_error("gpus." + k, "keys are GPU indices (0, 1, ...)");
      if (!v.is_object()) config_key_error("gpus." + k, std::string("expected an object, got ") + json::type_of(v));
    }
    if (auto mine = gpus->find(index); mine != gpus->end()) overrides = *mine;
    out.erase("gpus");
  }
  // Ports first (from the node's values), then GPU N's overrides win as given.
  if (auto p = out.find("metrics_port"); p != out.end() && p->is_number_integer() && p->get<int64_t>() > 0)
    *p = p->get<int64_t>() + gpu;
  if (auto b = out.find("metrics_bind"); b != out.end() && b->is_string() && !b->get<std::string>().empty())
    *b = shift_bind_port(b->get<std::string>(), gpu);
  for (const auto& [k, v] : overrides.items()) {
    auto engine = out.find("engine");
    if (k == "engine" && v.is_object() && engine != out.end() && engine->is_object()) {
      for (const auto& [ek, ev] : v.items()) (*engine)[ek] = ev;
    } else {
      out[k] = v;
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
    Json node;
    try {
      node = json::parse(ss.str(), "worker config");
    } catch (const json::Error& e) {
      throw std::runtime_error(e.what());
    }
    return decode_worker_config(node_config_for_gpu(node, gpu).dump());
  } catch (const std::exception& e) {
    throw std::runtime_error(path + " (GPU " + std::to_string(gpu) + "): " + e.what());
  }
}

}  // namespace ff::worker
