#include "worker/engine/ltx2/ltx2_json.hpp"

#include <stdexcept>

namespace ff::ltx2 {

json::Value config_from_metadata(const std::map<std::string, std::string>& metadata, const std::string& file) {
  auto it = metadata.find("config");
  if (it == metadata.end())
    throw std::invalid_argument(file + ": no \"config\" in the safetensors metadata (not an LTX-2 file?)");
  json::Value v;
  try {
    v = json::parse(it->second);
  } catch (const json::ParseError& e) {
    throw std::invalid_argument(file + ": metadata \"config\" is not valid JSON: " + e.what());
  }
  if (!v.is_object()) throw std::invalid_argument(file + ": metadata \"config\" is not a JSON object");
  return v;
}

const json::Value& config_section(const json::Value& config, const std::string& section, const std::string& file) {
  const auto& obj = config.as_object();
  const json::Value* v = obj.find(section);
  if (!v || !v->is_object())
    throw std::invalid_argument(file + ": config has no \"" + section + "\" object");
  return *v;
}

}  // namespace ff::ltx2
